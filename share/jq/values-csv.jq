# SPDX-License-Identifier: ISC
# values-csv.jq - one CSV row per report: device, serial, timestamp, then
# the content values of the keys given, in that order (numbers as numbers,
# as content.jq reads them; a missing key is an empty field):
#   dmu-get st1 list | jq -r --arg keys TA,RH,PA -f values-csv.jq
def num:
  if test("^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?$")
     and (sub("[eE].*$"; "") | gsub("[^0-9]"; "") | length) <= 15
  then tonumber else . end;

def pairs:
  split(",")
  | map(split("=") | select(length > 1 and .[0] != "")
        | {(.[0]): (.[1:] | join("=") | num)})
  | add // {};

(.content | if type == "string" then pairs else {} end) as $p
| [.device, .serial, .timestamp] + [($keys | split(","))[] | $p[.]]
| @csv
