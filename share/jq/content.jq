# SPDX-License-Identifier: ISC
# content.jq - adds .values: the report's "content" KEY=VALUE pairs as an
# object.  A value becomes a number only when it reads as one exactly (no
# leading zeros or '+', at most 15 digits: what a double holds); anything
# else (007, nan, ///) stays text.  Pairs without '=' are left out; a
# content that is no string (a number, an object, null, none) has none.
#   dmu-get st1 follow | jq -c -f content.jq
def num:
  if test("^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?$")
     and (sub("[eE].*$"; "") | gsub("[^0-9]"; "") | length) <= 15
  then tonumber else . end;

def pairs:
  split(",")
  | map(split("=") | select(length > 1 and .[0] != "")
        | {(.[0]): (.[1:] | join("=") | num)})
  | add // {};

. + {values: (.content | if type == "string" then pairs else {} end)}
