package testmedia

import "strconv"

func itoa(i int) string        { return strconv.Itoa(i) }
func formatF(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
