package local_test

import (
	"testing"

	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
	"github.com/gnetftp/gnetftp/ftp/shell/shelltest"
)

// The conformance suite again with every directory listing cached, so
// that its List checks go through the cache.
func TestLocalConformanceCachingAll(t *testing.T) {
	shelltest.Run(t, func(t *testing.T) (shell.Shell, string) { return local.NewCachingAll(t) })
}
