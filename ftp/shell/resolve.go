package shell

import "strings"

// Resolve turns a client's path argument into a clean absolute virtual
// path, relative to the working directory cwd, like Twisted's toSegments:
// an argument starting with "/" is absolute, "." and empty segments are
// skipped, ".." pops one segment, and climbing above "/" or a NUL byte
// anywhere is ErrInvalidPath. The result is "/" or "/a/b" (no trailing
// slash, no "." or ".." left).
func Resolve(cwd, arg string) (string, error) {
	if strings.IndexByte(arg, 0) >= 0 || strings.IndexByte(cwd, 0) >= 0 {
		return "", ErrInvalidPath
	}
	segs := make([]string, 0, 8)
	var err error
	if !strings.HasPrefix(arg, "/") {
		if segs, err = appendSegments(segs, cwd); err != nil {
			return "", err
		}
	}
	if segs, err = appendSegments(segs, arg); err != nil {
		return "", err
	}
	return "/" + strings.Join(segs, "/"), nil
}

// appendSegments applies the segments of p to segs.
func appendSegments(segs []string, p string) ([]string, error) {
	for p != "" {
		var s string
		s, p, _ = strings.Cut(p, "/")
		switch s {
		case "", ".":
		case "..":
			if len(segs) == 0 {
				return nil, ErrInvalidPath
			}
			segs = segs[:len(segs)-1]
		default:
			segs = append(segs, s)
		}
	}
	return segs, nil
}

// RootRelative maps a virtual absolute path to a name relative to the
// shell's root ("." for the root itself), with Resolve's rules: nothing
// climbs above "/"; a relative path is ErrInvalidPath. A backend uses it
// to turn what the server hands it into its own names (os.Root names,
// object keys).
func RootRelative(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", ErrInvalidPath
	}
	c, err := Resolve("/", p)
	if err != nil {
		return "", err
	}
	if c == "/" {
		return ".", nil
	}
	return c[1:], nil
}
