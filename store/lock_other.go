//go:build !unix

package store

// lockFile on systems without flock(2) guards nothing beyond File's own
// mutex: several processes sharing one directory there are not fenced.
func lockFile(string) (func(), error) { return func() {}, nil }
