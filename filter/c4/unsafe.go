package c4

import "unsafe"

// unsafeString views b as a string without copying; b must not change while
// the string is in use (it is only searched, then dropped).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
