# SPDX-License-Identifier: ISC
# pg.jq - one row per report for dmu-sink-pg's staging table, in COPY's
# text format, from the output of content.jq: device, serial, timestamp
# (\N when the report has none: NULL), content, and the values as a JSON
# object.  Backslash, line feed, carriage return and tab are escaped, so
# that no content can end a row or the copy (a line "\."); U+0000, which
# neither text nor jsonb holds, becomes U+FFFD in every string.

# (Each gsub only where a test finds something for it: jq's gsub is slow.)
def nonul: if type == "string" and test("\u0000") then gsub("\u0000"; "\ufffd")
  else . end;

def field: if . == null then "\\N"
  else tostring | if test("[\\\\\n\r\t]") | not then . else
    gsub("\\\\"; "\\\\") | gsub("\n"; "\\n") | gsub("\r"; "\\r")
    | gsub("\t"; "\\t") end end;

[.device, .serial, (.timestamp | nonul), (.content // "" | nonul),
 (.values | with_entries(.key |= nonul | .value |= nonul) | tojson)]
| map(field) | join("\t")
