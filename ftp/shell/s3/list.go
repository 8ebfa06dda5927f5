package s3

import (
	"container/heap"
	"context"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// maxHeld bounds the entries a listing holds back waiting for a
// directory that may sort before them (see listing); past it, the
// directory is looked up at once.
const maxHeld = 4 * shell.MaxListBatch

// OpenList streams the directory p with ListObjectsV2 and delimiter "/",
// a page of up to 1,000 keys at a time (shell.StreamLister); a file lists
// as itself. The first page is read here, so a missing p fails before the
// server answers 150.
func (s *Shell) OpenList(p string, _ bool) (shell.Listing, error) {
	r, err := s.rel("list", p)
	if err != nil {
		return nil, err
	}
	l := &listing{s: s, prefix: s.dirPrefix(r), resolved: map[string]bool{}, probed: map[string]bool{}}
	n, err := l.page()
	if err != nil {
		return nil, shell.Wrap("list", p, err)
	}
	if r != "" && n == 0 {
		hd, err := s.head(r)
		if err != nil {
			return nil, shell.Wrap("list", p, err)
		}
		return shell.SliceListing([]fs.FileInfo{&entry{name: path.Base(r), size: aws.ToInt64(hd.ContentLength),
			mod: aws.ToTime(hd.LastModified).UTC()}}), nil
	}
	return l, nil
}

// listing is a directory being listed. S3 returns keys in key order,
// where a directory "a" sorts as "a/": after "a-b" and "a.txt", which
// come after it by name. So an entry whose name has a byte below '/' (at
// i > 0) is held back until the listing has gone past name[:i]+"/" for
// the shortest such prefix not yet settled; the entries go out in name
// order from a heap. Held entries are few unless a directory has
// thousands of siblings that extend its name ("img" and "img-0001" ...):
// past maxHeld, that directory is looked up with one request instead.
type listing struct {
	s        *Shell
	prefix   string
	token    *string
	more     bool   // pages left
	started  bool   // the first page was read
	cursor   string // the last name+"/" or name seen, in key order
	held     entryHeap
	resolved map[string]bool // directory names known to exist or not
	probed   map[string]bool // directories found by lookup: skip them in pages
	out      []fs.FileInfo
	closed   bool
}

// page reads the next page into held; n counts its keys and prefixes
// (the directory's own marker included).
func (l *listing) page() (int, error) {
	ctx, cancel := l.s.st.ctx(context.Background())
	defer cancel()
	out, err := l.s.st.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &l.s.st.cfg.Bucket, Prefix: &l.prefix,
		Delimiter: aws.String("/"), ContinuationToken: l.token})
	if err != nil {
		return 0, mapErr(err)
	}
	l.started = true
	l.more = aws.ToBool(out.IsTruncated) && out.NextContinuationToken != nil
	l.token = out.NextContinuationToken
	n := len(out.Contents) + len(out.CommonPrefixes)
	for _, c := range out.Contents {
		name := strings.TrimPrefix(aws.ToString(c.Key), l.prefix)
		l.seen(name)
		if name == "" || strings.Contains(name, "/") {
			continue // the directory's marker
		}
		heap.Push(&l.held, &entry{name: name, size: aws.ToInt64(c.Size), mod: aws.ToTime(c.LastModified).UTC()})
	}
	for _, cp := range out.CommonPrefixes {
		rel := strings.TrimPrefix(aws.ToString(cp.Prefix), l.prefix)
		l.seen(rel)
		name := strings.TrimSuffix(rel, "/")
		if name == "" || strings.Contains(name, "/") || l.probed[name] {
			continue
		}
		heap.Push(&l.held, &entry{name: name, dir: true, mod: time.Unix(0, 0).UTC()})
	}
	return n, nil
}

func (l *listing) seen(k string) {
	if k > l.cursor {
		l.cursor = k
	}
}

// bound is the key the listing must pass before name can go out: the
// shortest unsettled prefix of name followed by a byte below '/', plus
// "/" ("" when there is none).
func (l *listing) bound(name string) (dir, key string) {
	for i := 1; i < len(name); i++ {
		if name[i] < '/' && !l.resolved[name[:i]] {
			return name[:i], name[:i] + "/"
		}
	}
	return "", ""
}

// ready reports whether the head of held can go out.
func (l *listing) ready() bool {
	_, b := l.bound(l.held[0].name)
	return b == "" || !l.more || l.cursor >= b
}

// probe settles the directory name: looked up now, listed now if it
// exists, and skipped when a later page shows it.
func (l *listing) probe(name string) error {
	ctx, cancel := l.s.st.ctx(context.Background())
	defer cancel()
	pre := l.prefix + name + "/"
	out, err := l.s.st.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &l.s.st.cfg.Bucket, Prefix: &pre, MaxKeys: aws.Int32(1)})
	if err != nil {
		return mapErr(err)
	}
	l.resolved[name] = true
	if len(out.Contents) > 0 && !l.probed[name] && l.cursor < name+"/" {
		l.probed[name] = true
		heap.Push(&l.held, &entry{name: name, dir: true, mod: time.Unix(0, 0).UTC()})
	}
	return nil
}

// Next returns the next entries in name order, at most
// shell.MaxListBatch, reading pages as needed.
func (l *listing) Next() ([]fs.FileInfo, error) {
	if l.closed {
		return nil, io.EOF
	}
	l.out = l.out[:0]
	for len(l.out) < shell.MaxListBatch {
		if len(l.held) > 0 && l.ready() {
			l.out = append(l.out, heap.Pop(&l.held).(*entry))
			continue
		}
		if len(l.out) > 0 {
			break
		}
		if !l.more && len(l.held) == 0 {
			return nil, io.EOF
		}
		if len(l.held) > l.s.st.maxHeld {
			d, _ := l.bound(l.held[0].name)
			if err := l.probe(d); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := l.page(); err != nil {
			return nil, err
		}
	}
	return l.out, nil
}

// Close drops what the listing holds; safe to call twice.
func (l *listing) Close() error {
	l.closed, l.held, l.out = true, nil, nil
	return nil
}

// entryHeap orders entries by name (byte order).
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].name < h[j].name }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)        { *h = append(*h, x.(*entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
