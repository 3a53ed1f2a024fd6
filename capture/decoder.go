package capture

import (
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"
)

// receiveFrames sends pkt (nil flushes) to cc and calls use with every frame
// that comes out into frame, unreferencing it afterwards. Decode errors,
// damaged frames and frames use rejects (bad) are counted, not fatal; eof
// says the decoder is drained.
func receiveFrames(cc *astiav.CodecContext, frame *astiav.Frame, pkt *astiav.Packet, use func() (bad bool, err error)) (decodeErrors int, eof bool, err error) {
	if err := cc.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
		decodeErrors++
	}
	for {
		if err := cc.ReceiveFrame(frame); err != nil {
			switch {
			case errors.Is(err, astiav.ErrEagain):
				return decodeErrors, false, nil
			case errors.Is(err, astiav.ErrEof):
				return decodeErrors, true, nil
			}
			return decodeErrors + 1, false, nil
		}
		if frameDamaged(frame) {
			decodeErrors++
		}
		bad, err := use()
		frame.Unref()
		if bad {
			decodeErrors++
		}
		if err != nil {
			return decodeErrors, false, err
		}
	}
}

// openDecoder finds and opens the decoder of s with per-codec options
// (skip_frame, threads, …). Options the codec does not know are an error, so
// that a typo in a config does not silently do nothing.
func openDecoder(s *astiav.Stream, opts map[string]string) (*astiav.CodecContext, error) {
	cp := s.CodecParameters()
	codec := astiav.FindDecoder(cp.CodecID())
	if codec == nil {
		return nil, fmt.Errorf("%s stream #%d uses codec %q, which this FFmpeg build cannot decode: %w",
			cp.MediaType(), s.Index(), cp.CodecID().Name(), ErrUnsupported)
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, fmt.Errorf("allocate %s decoder: out of memory", codec.Name())
	}
	if err := cp.ToCodecContext(cc); err != nil {
		cc.Free()
		return nil, fmt.Errorf("configure %s decoder: %w", codec.Name(), err)
	}
	cc.SetTimeBase(s.TimeBase())
	dict := astiav.NewDictionary()
	defer dict.Free()
	for k, v := range opts {
		if err := dict.Set(k, v, 0); err != nil {
			cc.Free()
			return nil, fmt.Errorf("decoder option %s=%s: %w", k, v, err)
		}
	}
	if err := cc.Open(codec, dict); err != nil {
		cc.Free()
		return nil, fmt.Errorf("open %s decoder: %w", codec.Name(), err)
	}
	if left := dictKeys(dict); len(left) > 0 {
		cc.Free()
		return nil, fmt.Errorf("%s decoder does not know option(s) %v", codec.Name(), left)
	}
	return cc, nil
}

// dictKeys lists the keys left in an FFmpeg dictionary: after an open call,
// those are the options nobody consumed.
func dictKeys(d *astiav.Dictionary) []string {
	var keys []string
	var prev *astiav.DictionaryEntry
	for {
		e := d.Get("", prev, astiav.NewDictionaryFlags(astiav.DictionaryFlagIgnoreSuffix))
		if e == nil {
			return keys
		}
		keys = append(keys, e.Key())
		prev = e
	}
}
