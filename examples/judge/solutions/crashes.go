package main

import "fmt"

// Scans through a nil pointer: a panic (exit 2).
func main() {
	var a, b *int64
	fmt.Scan(a, b)
	fmt.Println(*a + *b)
}
