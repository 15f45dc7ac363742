# SPDX-License-Identifier: ISC
# pg.jq - one CSV row per report for dmu-sink-pg's staging table, from the
# output of content.jq: device, serial, timestamp (empty when the report
# has none: NULL), content, and the values as a JSON object.
[.device, .serial, .timestamp, (.content // ""), (.values | tojson)] | @csv
