// Package dataset reads the public annotation files of the four benchmarks
// the paper reports: VGG-SS (vggss.json, normalised xyxy, one to seven
// boxes a clip), MUSIC-Solo (normalised xywh, one box) and the duet format
// shared by MUSIC-Duet and VGGSound-Duet (bbox_src1 and bbox_src2 as
// normalised xywh, with class_src1 and class_src2).
//
// Files are accepted as published, quirks included: boxes with x2 < x1,
// y1 = y2, coordinates outside [0,1] (vggss.json has -2.88e16) and integer
// literals. The metrics decide what such a box means under each protocol;
// the reader only refuses what cannot be read: not JSON, the wrong shape
// for the dataset (with a hint at the right --dataset), a box without
// exactly four numbers, a missing or duplicate "file", or an id that is
// not a plain relative path (it names files under --frames, --audio and
// --videos). Errors name the file, the entry and, for JSON syntax errors,
// the line and column.
//
// Sample ids map to input files as described on Kind.FrameNames,
// Kind.AudioNames and Kind.VideoNames.
package dataset
