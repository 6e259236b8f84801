use std::io::Read;
use std::ptr;

// Adds by counting one at a time: instant for small numbers, far too slow for 10^12.
// (Volatile reads and writes, so -O cannot turn the loop into one addition.)
fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).unwrap();
    let numbers: Vec<i64> = input.split_whitespace().map(|x| x.parse().unwrap()).collect();
    let mut sum = numbers[1];
    let mut i = 0;
    while i < numbers[0] {
        unsafe { ptr::write_volatile(&mut sum, ptr::read_volatile(&sum) + 1) };
        i += 1;
    }
    while i > numbers[0] {
        unsafe { ptr::write_volatile(&mut sum, ptr::read_volatile(&sum) - 1) };
        i -= 1;
    }
    println!("{}", sum);
}
