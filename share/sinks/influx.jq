# SPDX-License-Identifier: ISC
# influx.jq - one InfluxDB line-protocol point per report, from the output
# of content.jq (dmu-get ... | jq -c -f content.jq | jq -r -f influx.jq):
#   MEASUREMENT,device=D[,station=S] K=V,...,serial=Ni[,timestamp="T"] TIME
# The device and the station (the content's S) are tags; every numeric
# value of the content is a float field, the serial an integer field and
# never a tag.  TIME, in nanoseconds, is the report's second plus the
# serial modulo 1e9: two reports of one device in one second are two
# points, and the same report written again overwrites its own point.
# The report's timestamp is read as RFC 3339 (as dmu-get's metrics read
# it: a fraction, which the point's time drops, and "Z" or an offset);
# without one that reads so, the content's D and T date the report, and
# without those it is stored at the epoch (1970-01-01T00:00:00Z), never
# left out.  A timestamp that is not YYYY-MM-DDTHH:MM:SSZ, or is not the
# point's time, is kept as the string field "timestamp".
#   --arg m MEASUREMENT (default "dmu")

# Line protocol carries no control character in a tag or a field key, and
# reads a backslash before a space, a comma, '=' or the end as an escape:
# control characters become spaces, those backslashes are left out, and
# space, comma and '=' are escaped.  Any other backslash is literal.
# (A string with none of those characters is left as it is at the cost of
# one test: jq's gsub is slow, and most keys and values have none.)
def esc:
  if test("[\u0000-\u001f\u007f\\\\ ,=]") | not then . else
  gsub("[\u0000-\u001f\u007f]"; " ") | gsub("\\\\+(?=[ ,=]|\\z)"; "")
  | gsub("(?<c>[ ,=])"; "\\\(.c)") end;

# A string field value: control characters as spaces, '"' and '\' escaped.
def strfield:
  if test("[\u0000-\u001f\u007f\"\\\\]") | not then . else
  gsub("[\u0000-\u001f\u007f]"; " ") | gsub("(?<c>[\"\\\\])"; "\\\(.c)")
  end | "\"\(.)\"";

# Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
def days(y; m; d):
  (if m <= 2 then y - 1 else y end) as $y
  | ($y / 400 | floor) as $era
  | ($y - $era * 400) as $yoe
  | (((153 * (if m > 2 then m - 3 else m + 9 end) + 2) / 5 | floor) + d - 1)
    as $doy
  | $era * 146097 + $yoe * 365 + ($yoe / 4 | floor) - ($yoe / 100 | floor)
    + $doy - 719468;

# An RFC 3339 time as whole seconds since the epoch, or null when the
# string is not one, or is outside what InfluxDB stores from 1970 on.
def rfc3339:
  if type != "string" then null else
  (capture("\\A(?<y>[0-9]{4})-(?<mo>[0-9]{2})-(?<d>[0-9]{2})[Tt ]"
    + "(?<h>[0-9]{2}):(?<mi>[0-9]{2}):(?<s>[0-9]{2})(?:\\.[0-9]+)?"
    + "(?:[Zz]|(?<sign>[-+])(?<oh>[0-9]{2}):(?<om>[0-9]{2}))\\z")
   // null)
  | if . == null then null else
    map_values(if . == null or . == "+" or . == "-" then . else tonumber end)
    | if .mo < 1 or .mo > 12 or .d < 1 or .d > 31 or .h > 23 or .mi > 59
         or .s > 60 or (.oh // 0) > 23 or (.om // 0) > 59 then null
      else days(.y; .mo; .d) * 86400 + .h * 3600 + .mi * 60 + .s
           - (if .sign == "+" then 1 elif .sign == "-" then -1 else 0 end)
             * ((.oh // 0) * 3600 + (.om // 0) * 60)
      end
    | if . != null and (. < 0 or . > 9223372035) then null else . end
    end
  end;

# The point's second: the timestamp's ($ts: its rfc3339), else D and T's,
# else 0.
def seconds($ts):
  $ts
  // (if (.values.D | type) == "string" and (.values.T | type) == "string"
      then "\(.values.D)T\(.values.T)Z" | rfc3339 else null end)
  // 0;

def nanos($ts): seconds($ts) as $t | (.serial % 1000000000) as $n
  | if $t == 0 then "\($n)"
    else ($n | tostring) as $s | "\($t)\("000000000"[($s | length):])\($s)"
    end;

# The timestamp, unless the point's second ($ts) says all of it.
def timestamp($ts):
  .timestamp | select(type == "string")
  | select(test("\\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\\z")
           and $ts != null | not);

# The fields this mapping adds, and "time", which InfluxDB keeps for
# itself: a content key of that name is written with a "_" after it.
def key: if . == "serial" or . == "timestamp" or . == "time"
  then "\(.)_" else . end | esc;

(if $ARGS.named.m then $ARGS.named.m else "dmu" end) as $m
| (.timestamp | rfc3339) as $ts
| ([($m | gsub("(?<c>[ ,\\\\])"; "\\\(.c)")),
    "device=\(.device | esc)",
    (.values.S | select(type == "string") | esc | select(. != "")
     | "station=\(.)")]
   | join(",")) as $series
| ([(.values | to_entries[] | select(.value | type == "number")
     | (.key | key) as $k | select($k != "") | "\($k)=\(.value)"),
    "serial=\(.serial)i",
    (timestamp($ts) | "timestamp=\(strfield)")]
   | join(",")) as $fields
| "\($series) \($fields) \(nanos($ts))"
