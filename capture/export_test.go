package capture

import "github.com/asticode/go-astiav"

// WithPacketHook returns c with a hook that sees every packet read before
// it is decoded, to make streams no muxer writes.
func WithPacketHook(c Config, hook func(*astiav.Packet)) Config {
	c.packetHook = hook
	return c
}
