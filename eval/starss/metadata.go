package starss

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// FrameSeconds is the metadata's frame: 100 ms.
const FrameSeconds = 0.1

// Row is one line of a STARSS23 metadata CSV: in a 100 ms frame, a source
// of a class is active at a direction. AzimuthDeg is as written, in
// STARSS23's convention (counter-clockwise, positive left); Bearing gives
// garssld's.
type Row struct {
	Frame, Class, Source int
	AzimuthDeg           float64
	ElevationDeg         float64
}

// Bearing is the row's azimuth in garssld's bearing convention (positive
// right), in (−180, 180].
func (r Row) Bearing() float64 {
	b := -r.AzimuthDeg
	if b <= -180 {
		b += 360
	}
	return b
}

// ReadMetadata reads a metadata CSV: frame,class,source,azimuth,elevation
// with an optional sixth column (STARSS23's distance in cm, ignored), no
// header, spaces allowed around the values. Errors name the line.
func ReadMetadata(r io.Reader, name string) ([]Row, error) {
	var rows []Row
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		f := strings.Split(text, ",")
		if len(f) != 5 && len(f) != 6 {
			return nil, fmt.Errorf("%s:%d: %d columns, want frame,class,source,azimuth,elevation[,distance]", name, line, len(f))
		}
		var v [5]float64
		for i := range v {
			x, err := strconv.ParseFloat(strings.TrimSpace(f[i]), 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: column %d: %w", name, line, i+1, err)
			}
			v[i] = x
		}
		row := Row{Frame: int(v[0]), Class: int(v[1]), Source: int(v[2]), AzimuthDeg: v[3], ElevationDeg: v[4]}
		if float64(row.Frame) != v[0] || row.Frame < 0 || row.Class < 0 || row.Source < 0 {
			return nil, fmt.Errorf("%s:%d: frame, class and source must be non-negative integers", name, line)
		}
		if v[3] < -180 || v[3] > 180 || v[4] < -90 || v[4] > 90 {
			return nil, fmt.Errorf("%s:%d: azimuth %g must lie in [−180, 180] and elevation %g in [−90, 90]", name, line, v[3], v[4])
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rows, nil
}
