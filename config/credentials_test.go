package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// credentialsFixture makes a credentials directory as systemd would for
// LoadCredential=, and points CREDENTIALS_DIRECTORY at it.
func credentialsFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"mllm.key": "k3y\n", "mqtt.pass": "pa55\n", "ca.pem": "ca", "robot.crt": "crt", "robot.key": "key"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(CredentialsVar, dir)
	return dir
}

const credentialsConfig = `mllm {
  api_key_file = "${CREDENTIALS_DIRECTORY}/mllm.key"
}
mqtt {
  broker = "ssl://broker.local:8883"
  username = "robot-7"
  password_file = "${CREDENTIALS_DIRECTORY}/mqtt.pass"
  tls {
    ca_file = "${CREDENTIALS_DIRECTORY}/ca.pem"
    cert_file = "${CREDENTIALS_DIRECTORY}/robot.crt"
    key_file = "${CREDENTIALS_DIRECTORY}/robot.key"
  }
}
`

func TestCredentialsDirectoryExpands(t *testing.T) {
	dir := credentialsFixture(t)
	cfg, err := Parse([]byte(credentialsConfig), "garssl.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for got, want := range map[string]string{
		cfg.MLLM.APIKeyFile:   "mllm.key",
		cfg.MQTT.PasswordFile: "mqtt.pass",
		cfg.MQTT.TLS.CAFile:   "ca.pem",
		cfg.MQTT.TLS.CertFile: "robot.crt",
		cfg.MQTT.TLS.KeyFile:  "robot.key",
	} {
		if got != filepath.Join(dir, want) {
			t.Errorf("path = %q, want %q", got, filepath.Join(dir, want))
		}
	}
	if key, err := cfg.MLLM.APIKey(); err != nil || key != "k3y" {
		t.Errorf("APIKey() = %q, %v", key, err)
	}
	if pw, err := cfg.MQTT.Password(); err != nil || pw != "pa55" {
		t.Errorf("Password() = %q, %v", pw, err)
	}
	// The expanded config reads back the same.
	again, err := Parse([]byte(cfg.String()), "string.hcl")
	if err != nil || again.MQTT.PasswordFile != cfg.MQTT.PasswordFile {
		t.Errorf("round trip: %v, password_file %q", err, again.MQTT.PasswordFile)
	}
}

func TestCredentialsDirectoryErrors(t *testing.T) {
	dir := credentialsFixture(t)
	tests := []struct {
		name, src string
		unset     bool
		want      string
	}{
		{"unset", "mqtt {\n  username = \"u\"\n  password_file = \"${CREDENTIALS_DIRECTORY}/mqtt.pass\"\n}\n", true,
			"garssl.hcl:3:19: mqtt.password_file uses ${CREDENTIALS_DIRECTORY}, which is not set: systemd sets it only for a service with LoadCredential= (see systemd/garssld.service); elsewhere write the file's path, or set CREDENTIALS_DIRECTORY to the directory holding it"},
		{"missing credential", "mllm {\n  api_key_file = \"${CREDENTIALS_DIRECTORY}/nope.key\"\n}\n", false,
			`garssl.hcl:2:18: mllm.api_key_file "` + dir + `/nope.key" does not exist`},
		{"the directory itself", "mllm {\n  api_key_file = \"${CREDENTIALS_DIRECTORY}\"\n}\n", false,
			`garssl.hcl:2:18: mllm.api_key_file "` + dir + `" is a directory; name a file`},
		{"another variable", "mllm {\n  api_key_file = \"${HOME}/mllm.key\"\n}\n", false,
			"garssl.hcl:2:18: mllm.api_key_file must be a literal path, which may use ${CREDENTIALS_DIRECTORY}; other variables, functions, operators and ${…} are not evaluated in this file"},
		{"a function", "mqtt {\n  broker = \"ssl://b:8883\"\n  tls {\n    ca_file = \"${upper(CREDENTIALS_DIRECTORY)}/ca.pem\"\n  }\n}\n", false,
			"garssl.hcl:4:15: mqtt.tls.ca_file must be a literal path, which may use ${CREDENTIALS_DIRECTORY}; other variables, functions, operators and ${…} are not evaluated in this file"},
		{"an attribute of it", "mllm {\n  api_key_file = \"${CREDENTIALS_DIRECTORY.x}/k\"\n}\n", false,
			"garssl.hcl:2:18: mllm.api_key_file must be a literal path, which may use ${CREDENTIALS_DIRECTORY}; other variables, functions, operators and ${…} are not evaluated in this file"},
		{"only in file attributes", "mqtt {\n  store_dir = \"${CREDENTIALS_DIRECTORY}/mqtt\"\n}\n", false,
			"garssl.hcl:2:15: mqtt.store_dir must be a literal value; variables, functions, operators and ${…} are not evaluated in this file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unset {
				t.Setenv(CredentialsVar, "")
			}
			_, err := Parse([]byte(tt.src), "garssl.hcl")
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse =\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestCredentialsDirectoryUnsetSkippingFileChecks(t *testing.T) {
	t.Setenv(CredentialsVar, "")
	cfg, err := Parse([]byte(credentialsConfig), "garssl.hcl", SkipFileChecks())
	if err != nil {
		t.Fatalf("Parse with SkipFileChecks: %v", err)
	}
	if cfg.MQTT.PasswordFile != "${CREDENTIALS_DIRECTORY}/mqtt.pass" {
		t.Errorf("password_file = %q, want the text as written", cfg.MQTT.PasswordFile)
	}
	if !strings.Contains(cfg.String(), `"$${CREDENTIALS_DIRECTORY}/mqtt.pass"`) {
		t.Errorf("String() does not escape the unexpanded path:\n%s", cfg.String())
	}
}

// FuzzCredentialsPath feeds arbitrary text to a file attribute's string,
// where ${CREDENTIALS_DIRECTORY} is the one interpolation allowed. Parse
// must not panic, must fail with Diagnostics, and what it accepts must
// read back the same.
func FuzzCredentialsPath(f *testing.F) {
	f.Setenv(CredentialsVar, "/run/credentials/garssld.service")
	for _, seed := range []string{
		"${CREDENTIALS_DIRECTORY}/garssl.mqtt.pass",
		"${CREDENTIALS_DIRECTORY}",
		"$${CREDENTIALS_DIRECTORY}/x",
		"${CREDENTIALS_DIRECTORY}${CREDENTIALS_DIRECTORY}",
		"${ CREDENTIALS_DIRECTORY }/x",
		"${CREDENTIALS_DIRECTORY[0]}",
		"%{ if true }x%{ endif }",
		"${HOME}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		src := "mqtt {\n  username = \"u\"\n  password_file = \"" + path + "\"\n}\n"
		cfg, err := Parse([]byte(src), "fuzz.hcl", SkipFileChecks())
		if err != nil {
			var diags Diagnostics
			if !errors.As(err, &diags) || len(diags) == 0 {
				t.Fatalf("Parse error is not a non-empty Diagnostics: %T %v", err, err)
			}
			return
		}
		again, err := Parse([]byte(cfg.String()), "string.hcl", SkipFileChecks())
		if err != nil {
			t.Fatalf("Parse(String()) failed: %v\n%s", err, cfg.String())
		}
		if again.MQTT.PasswordFile != cfg.MQTT.PasswordFile {
			t.Fatalf("password_file %q read back as %q", cfg.MQTT.PasswordFile, again.MQTT.PasswordFile)
		}
	})
}
