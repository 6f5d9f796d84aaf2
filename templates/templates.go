// Package templates embeds the library chart insight-common, which every Insight chart
// lists as a dependency. It exists only because go:embed cannot reach files outside a
// package's directory: the charts package attaches this chart to the embedded charts in
// memory. It must not depend on anything but the standard library.
package templates

import "embed"

// Common holds the library chart under the directory CommonDir.
//
//go:embed all:insight-common
var Common embed.FS

// CommonDir is the directory of the library chart inside Common.
const CommonDir = "insight-common"
