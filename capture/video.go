package capture

import (
	"errors"
	"fmt"
	"time"

	"github.com/asticode/go-astiav"
)

// videoDecoder decodes one video stream and offers every frame to the
// input's picker.
type videoDecoder struct {
	stream *astiav.Stream
	cc     *astiav.CodecContext
	frame  *astiav.Frame // receives decoded frames
	pick   *picker
}

func newVideoDecoder(s *astiav.Stream, opts map[string]string, pick *picker) (*videoDecoder, error) {
	cc, err := openDecoder(s, opts)
	if err != nil {
		return nil, err
	}
	pick.orient = orientationOf(s)
	return &videoDecoder{stream: s, cc: cc, frame: astiav.AllocFrame(), pick: pick}, nil
}

func (d *videoDecoder) free() {
	d.frame.Free()
	d.cc.Free()
}

// decode sends one packet (nil flushes) and offers every frame that comes out.
// It returns how many decode errors it met; they are not fatal.
func (d *videoDecoder) decode(pkt *astiav.Packet, sink Sink) (decodeErrors int, err error) {
	if err := d.cc.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
		decodeErrors++
	}
	for {
		if err := d.cc.ReceiveFrame(d.frame); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return decodeErrors, nil
			}
			decodeErrors++
			return decodeErrors, nil
		}
		pts := d.frame.Pts()
		if pts == astiav.NoPtsValue {
			pts = d.frame.PktDts()
		}
		if pts == astiav.NoPtsValue {
			d.frame.Unref()
			decodeErrors++
			continue
		}
		if frameDamaged(d.frame) {
			decodeErrors++
		}
		pos := time.Duration(astiav.RescaleQ(pts, d.stream.TimeBase(), nanos))
		err := d.pick.offer(d.frame, pos, sink)
		d.frame.Unref()
		if err != nil {
			return decodeErrors, err
		}
		sink.VideoAt(pos)
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
