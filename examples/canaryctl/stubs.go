package main

func cmdImport(e env, args []string) error { return nil }
