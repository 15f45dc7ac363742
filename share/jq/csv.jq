# SPDX-License-Identifier: ISC
# csv.jq - one CSV row per report: device, serial, timestamp, content (a
# content that is no string as its JSON text).
#   dmu-get st1 list | jq -r -f csv.jq
[.device, .serial, .timestamp,
 (.content | if type == "string" or . == null then . else tojson end)]
| @csv
