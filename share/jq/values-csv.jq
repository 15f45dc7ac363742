# values-csv.jq - one CSV row per report with chosen content keys, in the
# order given: jq -r --arg keys TA,RH,PA -f values-csv.jq
def pairs:
  split(",")
  | map(capture("^(?<k>[^=]+)=(?<v>.*)$"; "s") | {(.k): .v})
  | add // {};

((.content // "") | pairs) as $p
| [.device, .serial, .timestamp] + [($keys | split(","))[] | $p[.]]
| @csv
