package rules

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// celPos maps a position inside a CEL source (1-based line, 0-based column
// in characters) to the position in the .hcl file, so a CEL error points at
// the right character of the rule file. src is the whole file; rng is the
// range of the string expression that holds the CEL source.
//
// Quoted strings are walked escape by escape. For heredocs the column is
// found by adding back the indentation that <<- strips.
func celPos(src []byte, rng hcl.Range, line, col int) hcl.Pos {
	if rng.End.Byte > len(src) || rng.Start.Byte >= rng.End.Byte {
		return rng.Start
	}
	raw := src[rng.Start.Byte:rng.End.Byte]
	if raw[0] == '"' {
		return quotedPos(raw, rng.Start, line, col)
	}
	if bytes.HasPrefix(raw, []byte("<<")) {
		return heredocPos(raw, rng.Start, line, col)
	}
	return rng.Start
}

func quotedPos(raw []byte, start hcl.Pos, line, col int) hcl.Pos {
	// Decoded characters to skip: the CEL lines before this one (each ended
	// by one decoded "\n") and col characters on this line.
	curLine, curCol := 1, 0
	pos := hcl.Pos{Line: start.Line, Column: start.Column + 1, Byte: start.Byte + 1}
	i := 1
	for i < len(raw)-1 {
		if curLine == line && curCol == col {
			return pos
		}
		n, decoded := escapeLen(raw[i:])
		if decoded == '\n' {
			curLine++
			curCol = 0
		} else {
			curCol++
		}
		pos.Byte += n
		pos.Column += utf8.RuneCount(raw[i : i+n])
		i += n
	}
	return pos
}

// escapeLen returns how many source bytes make the next decoded character,
// and that character when it is a newline escape.
func escapeLen(b []byte) (int, rune) {
	switch {
	case b[0] == '\\' && len(b) > 1:
		switch b[1] {
		case 'n':
			return 2, '\n'
		case 'u':
			return min(6, len(b)), 0
		case 'U':
			return min(10, len(b)), 0
		}
		return 2, 0
	case bytes.HasPrefix(b, []byte("$${")), bytes.HasPrefix(b, []byte("%%{")):
		return 1, 0 // "$${" decodes to "${": the first "$" is swallowed with the next
	}
	_, n := utf8.DecodeRune(b)
	return n, 0
}

func heredocPos(raw []byte, start hcl.Pos, line, col int) hcl.Pos {
	lines := strings.Split(string(raw), "\n")
	if line >= len(lines)-1 || line < 1 {
		return start
	}
	indent := 0
	if strings.HasPrefix(lines[0], "<<-") {
		indent = -1
		for _, l := range lines[1 : len(lines)-1] {
			if strings.TrimSpace(l) == "" {
				continue
			}
			n := len(l) - len(strings.TrimLeft(l, " \t"))
			if indent < 0 || n < indent {
				indent = n
			}
		}
		indent = max(indent, 0)
	}
	byteOff := len(lines[0]) + 1
	for _, l := range lines[1:line] {
		byteOff += len(l) + 1
	}
	text := lines[line]
	prefix := text[:min(indent, len(text))]
	body := []rune(text[len(prefix):])
	c := string(body[:min(col, len(body))])
	return hcl.Pos{
		Line:   start.Line + line,
		Column: 1 + utf8.RuneCountInString(prefix) + utf8.RuneCountInString(c),
		Byte:   start.Byte + byteOff + len(prefix) + len(c),
	}
}
