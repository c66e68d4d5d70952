package main

func cmdBacktest(e env, args []string) error { return nil }
func cmdReport(e env, args []string) error   { return nil }
func cmdImport(e env, args []string) error   { return nil }
