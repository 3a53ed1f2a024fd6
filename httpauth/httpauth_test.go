package httpauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"

	"github.com/garssl/garssld/internal/syncbuf"
)

func hashOf(t *testing.T, pw string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParse(t *testing.T) {
	h := hashOf(t, "pw", bcrypt.MinCost)
	// htpasswd -B writes $2y$; bcrypt reads it as $2b$.
	y := "$2y$" + strings.TrimPrefix(h, "$2a$")
	for _, tc := range []struct{ name, src, err string }{
		{"htpasswd -B line", "# operators\n\noperator:" + y + "\n", ""},
		{"no colon", "operator\n", "line 1 is not user:hash"},
		{"not bcrypt", "operator:{SHA}abc=\n", `line 1 (user "operator") is not a bcrypt hash; make it with ` + "`htpasswd -B`"},
		{"twice", "a:" + h + "\na:" + h + "\n", `line 2: user "a" appears twice`},
		{"empty", "# nobody\n", "no user in the file"},
	} {
		u, err := Parse([]byte(tc.src))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err == "" && !u.Check("operator", "pw"):
			t.Errorf("%s: the right password refused", tc.name)
		case tc.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		case err != nil && strings.Contains(err.Error(), "$2"):
			t.Errorf("%s: the message shows a hash: %v", tc.name, err)
		}
	}
}

type count struct{ n atomic.Int64 }

func (c *count) AuthFailed() { c.n.Add(1) }

// A wrong password and an unknown user both cost a bcrypt comparison at
// the file's cost; every refusal is counted, and logged at most once per
// logEvery with how many there were.
func TestRefusals(t *testing.T) {
	u, err := Parse([]byte("operator:" + hashOf(t, "right", bcrypt.MinCost+1)))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	obs := &count{}
	u.obs, u.log = obs, hclog.New(&hclog.LoggerOptions{Output: &logs, JSONFormat: true})
	var costs []int
	compare = func(hash, pw []byte) error {
		c, _ := bcrypt.Cost(hash)
		costs = append(costs, c)
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	defer func() { compare = bcrypt.CompareHashAndPassword }()
	if u.Check("intruder", "right") || u.Check("operator", "wrong") {
		t.Fatal("an unknown user or a wrong password accepted")
	}
	if len(costs) != 2 || costs[0] != bcrypt.MinCost+1 || costs[1] != bcrypt.MinCost+1 {
		t.Errorf("comparisons at costs %v; want one each for the unknown user and the wrong password, at the file's cost %d", costs, bcrypt.MinCost+1)
	}
	srv := httptest.NewServer(u.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})))
	defer srv.Close()
	for i := range 10 {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if i > 0 {
			req.SetBasicAuth("operator", "wrong")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("attempt %d: %s", i, resp.Status)
		}
	}
	if n := obs.n.Load(); n != 9 {
		t.Errorf("%d refusals counted, want 9 (a request without credentials is not one)", n)
	}
	if lines := strings.Count(logs.String(), "wrong user name or password"); lines != 1 {
		t.Errorf("%d log lines for 9 refusals within %v, want 1:\n%s", lines, logEvery, logs.String())
	}
	if !u.Check("operator", "right") || !u.Check("operator", "right") {
		t.Error("the right password refused")
	}
}
