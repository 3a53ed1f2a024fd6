// Package filekind names what a path is when it is not a regular file, for
// the messages that refuse it. garssld reads media and secrets from
// regular files only where it is given a file path: opening a named pipe
// blocks until something opens it for writing, a system call that nothing
// can cancel, so a FIFO named by mistake would hold up a stop forever.
package filekind

import "io/fs"

// Of describes mode's type with its article ("a named pipe (FIFO)"), or
// returns "" for a regular file.
func Of(mode fs.FileMode) string {
	switch t := mode.Type(); {
	case t == 0:
		return ""
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// Blocks reports whether opening or reading a file of mode's type may wait
// for another process without end: a named pipe or a socket.
func Blocks(mode fs.FileMode) bool {
	return mode.Type()&(fs.ModeNamedPipe|fs.ModeSocket) != 0
}
