# SPDX-License-Identifier: ISC
# influx.jq - one InfluxDB line-protocol point per report, from the output
# of content.jq (dmu-get ... | jq -c -f content.jq | jq -r -f influx.jq):
#   MEASUREMENT,device=D[,station=S] K=V,...,serial=Ni TIME
# The device and the station (the content's S) are tags; every numeric
# value of the content is a float field, the serial an integer field and
# never a tag.  TIME, in nanoseconds, is the report's second plus the
# serial modulo 1e9: two reports of one device in one second are two
# points, and the same report written again overwrites its own point.
# Without a timestamp the content's D and T date the report; a report with
# neither is an error, which fails the whole batch.
#   --arg m MEASUREMENT (default "dmu")

# Line protocol escapes for tag keys, tag values and field keys.
def esc: gsub("(?<c>[ ,=\\\\])"; "\\\(.c)");

def seconds:
  if (.timestamp | type) == "string" then .timestamp
  elif (.values.D | type) == "string" and (.values.T | type) == "string"
  then "\(.values.D)T\(.values.T)Z"
  else error("report \(.serial) of \(.device) has no timestamp") end
  | fromdateiso8601
  | if . < 0 then error("report before 1970") else . end;

def nanos: (.serial % 1000000000 | tostring) as $s
  | "\(seconds | floor)\("000000000"[($s | length):])\($s)";

(if $ARGS.named.m then $ARGS.named.m else "dmu" end) as $m
| ([($m | gsub("(?<c>[ ,\\\\])"; "\\\(.c)")),
    "device=\(.device | esc)",
    (.values.S | select(type == "string" and . != "") | "station=\(esc)")]
   | join(",")) as $series
| ([(.values | to_entries[] | select(.value | type == "number")
     | "\(.key | esc)=\(.value)"), "serial=\(.serial)i"]
   | join(",")) as $fields
| "\($series) \($fields) \(nanos)"
