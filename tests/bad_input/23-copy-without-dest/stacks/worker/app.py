print("context file for the copy step")
