//go:build !unix

package main

import "os"

// tryLock takes no lock where there is no flock: serve runs on Unix
// systems, and elsewhere two of them on one --data-dir are not refused.
func tryLock(*os.File) (locked bool, err error) { return true, nil }
