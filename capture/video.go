package capture

import (
	"github.com/garssl/garssld/media"
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
func (d *videoDecoder) decode(pkt *astiav.Packet, sink media.Sink) (decodeErrors int, err error) {
	decodeErrors, _, err = receiveFrames(d.cc, d.frame, pkt, func() (bool, error) {
		pts := d.frame.Pts()
		if pts == astiav.NoPtsValue {
			pts = d.frame.PktDts()
		}
		if pts == astiav.NoPtsValue {
			return true, nil
		}
		pos := time.Duration(astiav.RescaleQ(pts, d.stream.TimeBase(), nanos))
		if err := d.pick.offer(d.frame, pos, sink); err != nil {
			return false, err
		}
		sink.VideoAt(pos)
		return false, nil
	})
	return decodeErrors, err
}
