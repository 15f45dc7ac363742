# SPDX-License-Identifier: ISC
# csv.jq - one CSV row per report: device, serial, timestamp, content.
#   dmu-get st1 list | jq -r -f csv.jq
[.device, .serial, .timestamp, .content] | @csv
