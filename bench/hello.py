print("hello from the bench")
