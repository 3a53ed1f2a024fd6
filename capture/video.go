package capture

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"time"

	"github.com/asticode/go-astiav"
)

// jpegQuality is high enough that compression artefacts do not change what
// a vision model sees, and small enough (≈10 KB at 224×224) to send per request.
const jpegQuality = 90

// videoDecoder decodes one video stream and keeps, for the Sink's current
// picture target, a reference to the nearest frame so far. Only the frame
// finally chosen is scaled and encoded.
type videoDecoder struct {
	stream *astiav.Stream
	cc     *astiav.CodecContext
	frame  *astiav.Frame // receives decoded frames

	held    *astiav.Frame // reference to the best candidate for the target
	heldPos time.Duration
	hasHeld bool

	modelW, modelH int
	scaler         *astiav.SoftwareScaleContext
	scaled         *astiav.Frame
	scalerW        int
	scalerH        int
	scalerFmt      astiav.PixelFormat
	img            *image.YCbCr // views planes of pixels
	pixels         []byte       // the scaled frame's planes, packed
	jpegBuf        bytes.Buffer

	lastPic Picture       // the last converted picture, reused when one frame serves two targets
	lastEnd time.Duration // timeline position just after the last frame decoded
}

func newVideoDecoder(s *astiav.Stream, opts map[string]string, modelW, modelH int) (*videoDecoder, error) {
	cc, err := openDecoder(s, opts)
	if err != nil {
		return nil, err
	}
	return &videoDecoder{
		stream: s, cc: cc,
		frame: astiav.AllocFrame(), held: astiav.AllocFrame(), scaled: astiav.AllocFrame(),
		modelW: modelW, modelH: modelH,
	}, nil
}

func (d *videoDecoder) free() {
	d.frame.Free()
	d.held.Free()
	d.scaled.Free()
	if d.scaler != nil {
		d.scaler.Free()
	}
	d.cc.Free()
}

// decode sends one packet (nil flushes) and offers every frame that comes out.
// It returns how many decode errors it met; they are not fatal.
func (d *videoDecoder) decode(pkt *astiav.Packet, toPos func(pts int64, tb astiav.Rational) time.Duration, sink Sink) (decodeErrors int, err error) {
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
		pos := toPos(pts, d.stream.TimeBase())
		if end := pos + d.frameInterval(); end > d.lastEnd {
			d.lastEnd = end
		}
		err := d.offer(pos, sink)
		d.frame.Unref()
		if err != nil {
			return decodeErrors, err
		}
		sink.VideoAt(pos)
	}
}

// offer considers d.frame at pos for the sink's picture targets. Decoders
// output frames in presentation order, so once a frame at or past the target
// arrives, no later frame can be nearer.
func (d *videoDecoder) offer(pos time.Duration, sink Sink) error {
	for {
		target := sink.PictureTarget()
		if pos < target {
			d.held.Unref()
			if err := d.held.Ref(d.frame); err != nil {
				return fmt.Errorf("reference video frame: %w", err)
			}
			d.heldPos, d.hasHeld = pos, true
			return nil
		}
		useHeld := d.hasHeld && target-d.heldPos < pos-target
		var pic Picture
		var err error
		switch {
		case useHeld:
			pic, err = d.convert(d.held, d.heldPos, target)
		default:
			pic, err = d.convert(d.frame, pos, target)
		}
		if err != nil {
			return err
		}
		if useHeld {
			// The held frame is spent; the current frame may still serve
			// the next target.
			d.held.Unref()
			d.hasHeld = false
			sink.Picture(pic)
			if sink.PictureTarget() == target {
				return nil
			}
			continue
		}
		if d.hasHeld {
			// Older than a frame already at or past the target: no later
			// target can want it.
			d.held.Unref()
			d.hasHeld = false
		}
		sink.Picture(pic)
		// Frames are sparse relative to targets (hop shorter than the frame
		// interval, or a gap): the same frame may be nearest the next target.
		if sink.PictureTarget() == target {
			return nil // the sink wants no further picture yet
		}
	}
}

// convert scales f to the model size and encodes it, unless it lies too far
// from target, in which case the picture carries no JPEG.
func (d *videoDecoder) convert(f *astiav.Frame, pos, target time.Duration) (Picture, error) {
	pic := Picture{Target: target, Pos: pos, Width: f.Width(), Height: f.Height(), ModelWidth: d.modelW, ModelHeight: d.modelH}
	if dist := pos - target; dist > PictureTolerance || dist < -PictureTolerance {
		return pic, nil
	}
	if d.lastPic.JPEG != nil && d.lastPic.Pos == pos {
		pic.JPEG = d.lastPic.JPEG
		return pic, nil
	}
	if err := d.ensureScaler(f); err != nil {
		return pic, err
	}
	if err := d.scaler.ScaleFrame(f, d.scaled); err != nil {
		return pic, fmt.Errorf("scale frame %dx%d to %dx%d: %w", f.Width(), f.Height(), d.modelW, d.modelH, err)
	}
	if err := d.readScaled(); err != nil {
		return pic, err
	}
	d.jpegBuf.Reset()
	if err := jpeg.Encode(&d.jpegBuf, d.img, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return pic, fmt.Errorf("encode JPEG: %w", err)
	}
	pic.JPEG = bytes.Clone(d.jpegBuf.Bytes())
	d.lastPic = pic
	return pic, nil
}

// ensureScaler (re)creates the scaler when the source size or pixel format
// changes mid-stream, which cameras do after a renegotiation.
func (d *videoDecoder) ensureScaler(f *astiav.Frame) error {
	if d.scaler != nil && d.scalerW == f.Width() && d.scalerH == f.Height() && d.scalerFmt == f.PixelFormat() {
		return nil
	}
	if d.scaler != nil {
		d.scaler.Free()
		d.scaler = nil
	}
	// The scaled frame's buffers belong to the old geometry's context.
	d.scaled.Unref()
	s, err := astiav.CreateSoftwareScaleContext(f.Width(), f.Height(), f.PixelFormat(), d.modelW, d.modelH,
		astiav.PixelFormatYuvj420P, astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagArea))
	if err != nil {
		return fmt.Errorf("create scaler %dx%d %s → %dx%d: %w", f.Width(), f.Height(), f.PixelFormat().Name(), d.modelW, d.modelH, err)
	}
	d.scaler = s
	d.scalerW, d.scalerH, d.scalerFmt = f.Width(), f.Height(), f.PixelFormat()
	return nil
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

// frameInterval is the nominal time between frames, 1/30 s when the stream
// does not say.
func (d *videoDecoder) frameInterval() time.Duration {
	if r := d.stream.AvgFrameRate(); r.Num() > 0 && r.Den() > 0 {
		return time.Duration(float64(time.Second) * float64(r.Den()) / float64(r.Num()))
	}
	return time.Second / 30
}

// finish offers the held frame once more at end of stream: no later frame
// will come to prove it the nearest.
func (d *videoDecoder) finish(sink Sink) error {
	if !d.hasHeld {
		return nil
	}
	target := sink.PictureTarget()
	pic, err := d.convert(d.held, d.heldPos, target)
	d.held.Unref()
	d.hasHeld = false
	if err != nil {
		return err
	}
	sink.Picture(pic)
	return nil
}

// readScaled copies the scaled 4:2:0 frame into one packed Go buffer and
// points d.img's planes into it. (go-astiav v0.16.0's FrameData.ToImage
// reads chroma planes at full height, past their end, so it is not used.)
func (d *videoDecoder) readScaled() error {
	size, err := d.scaled.ImageBufferSize(1)
	if err != nil {
		return fmt.Errorf("size scaled frame: %w", err)
	}
	if cap(d.pixels) < size {
		d.pixels = make([]byte, size)
	}
	d.pixels = d.pixels[:size]
	if _, err := d.scaled.ImageCopyToBuffer(d.pixels, 1); err != nil {
		return fmt.Errorf("copy scaled frame: %w", err)
	}
	w, h := d.modelW, d.modelH
	cw, ch := (w+1)/2, (h+1)/2
	if size < w*h+2*cw*ch {
		return fmt.Errorf("scaled frame holds %d bytes, want %d", size, w*h+2*cw*ch)
	}
	d.img = &image.YCbCr{
		Y: d.pixels[:w*h], Cb: d.pixels[w*h : w*h+cw*ch], Cr: d.pixels[w*h+cw*ch : w*h+2*cw*ch],
		YStride: w, CStride: cw, SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect: image.Rect(0, 0, w, h),
	}
	return nil
}
