use std::io::Read;

// Indexes one number past the end of the input: a panic, exit 101.
fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).unwrap();
    let numbers: Vec<i64> = input.split_whitespace().map(|x| x.parse().unwrap()).collect();
    println!("{}", numbers[1] + numbers[2]);
}
