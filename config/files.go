package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// file checks that a referenced file exists and can be opened, unless the
// config was loaded with SkipFileChecks. Only the path is ever reported,
// never the contents.
func (v *validator) file(path, name string) { v.checkFile(path, name, false) }

// secretFile is file plus a check that the secret is not empty, which
// would otherwise surface later as a confusing authentication failure.
func (v *validator) secretFile(path, name string) { v.checkFile(path, name, true) }

func (v *validator) checkFile(path, name string, secret bool) {
	if name == "" || v.meta.skipsFileChecks() {
		return
	}
	// Stat before opening: opening a FIFO or device named by mistake could
	// block or have side effects.
	fi, err := os.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.errorf(path, "%s %q does not exist", path, name)
		return
	case err != nil:
		v.errorf(path, "%s %q cannot be read: %s", path, name, pathErrorReason(err))
		return
	case fi.IsDir():
		v.errorf(path, "%s %q is a directory; name a file", path, name)
		return
	case !fi.Mode().IsRegular():
		v.errorf(path, "%s %q is not a regular file", path, name)
		return
	case secret && fi.Size() == 0:
		v.errorf(path, "%s %q is empty", path, name)
		return
	}
	f, err := os.Open(name)
	if err != nil {
		v.errorf(path, "%s %q cannot be read: %s", path, name, pathErrorReason(err))
		return
	}
	f.Close()
}

// storeDir checks mqtt.store_dir. The daemon creates the directory, so a
// missing one is fine; something else already there under that name is not.
func (v *validator) storeDir(dir string) {
	const path = "mqtt.store_dir"
	if dir == "" {
		v.errorf(path, "%s is empty; give a writable directory for messages not yet acknowledged", path)
		return
	}
	if v.meta.skipsFileChecks() {
		return
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		v.errorf(path, "%s %q cannot be used: %s", path, dir, pathErrorReason(err))
	case !fi.IsDir():
		v.errorf(path, "%s %q is a file, not a directory; name a directory (garssld creates it when missing)", path, dir)
	}
}

// pathErrorReason drops the path from an *fs.PathError, which the message
// already names.
func pathErrorReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// APIKey reads the bearer token from APIKeyFile, without surrounding
// white space. It returns "" when no file is configured. Read it at start
// rather than keeping it in Config, so that the key never travels with
// the config into logs.
func (m MLLM) APIKey() (string, error) {
	return readSecret("mllm.api_key_file", m.APIKeyFile)
}

// Password reads the MQTT password from PasswordFile, without surrounding
// white space. It returns "" when no file is configured.
func (m MQTT) Password() (string, error) {
	return readSecret("mqtt.password_file", m.PasswordFile)
}

func readSecret(what, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("read %s: %s is empty", what, name)
	}
	return secret, nil
}
