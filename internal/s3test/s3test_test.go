package s3test_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/internal/s3test"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

// The Makefile builds the weed binary this package looks for.
func TestMakefileBuildsThisVersion(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^WEED_VERSION = (\S+)$`).FindSubmatch(mk)
	require.NotNil(t, m, "WEED_VERSION in the Makefile")
	assert.Equal(t, s3test.WeedVersion, string(m[1]))
}
