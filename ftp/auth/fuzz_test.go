package auth_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gnetftp/gnetftp/ftp/auth"
)

// FuzzUsersFile: any text either fails to load with an error or loads;
// a user that loads is written back (User.Line) to a line that loads to
// the same user. Never a panic.
func FuzzUsersFile(f *testing.F) {
	const h = "$2a$04$abcdefghijklmnopqrstuuQm5k0iQ7Lq3yZrC8Yw1c8n1j3xDgJ1e"
	for _, s := range []string{
		"alice:" + h + "\n",
		"bob:" + h + ":home:quota=1GiB:perm=elr\n# c\n\n",
		"c:" + h + ":quota=5:rate-down=2MiB/s:max-sessions=3\r\n",
		"\ufeffx:y\n", "a\n", "d:" + h + "::quota-files=7\n", "e:" + h + ":h:perm=\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "users")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		text, err := auth.ReadUsersFileText(p)
		if err != nil {
			return
		}
		for _, u := range text.Users() {
			q := filepath.Join(t.TempDir(), "again")
			if err := os.WriteFile(q, []byte(u.Line()+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			again, err := auth.ReadUsersFileText(q)
			if err != nil {
				t.Fatalf("%q written back as %q does not load: %v", b, u.Line(), err)
			}
			got, ok := again.Lookup(u.Name)
			if !ok || got != u {
				t.Fatalf("%q: %+v written back as %q reads %+v", b, u, u.Line(), got)
			}
		}
	})
}
