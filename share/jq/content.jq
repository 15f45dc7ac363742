# content.jq - adds .values: the report's "content" KEY=VALUE pairs as an
# object, numbers as numbers.  Pairs without '=' are left out.
#   dmu-get st1 follow | jq -c -f content.jq
def pairs:
  split(",")
  | map(capture("^(?<k>[^=]+)=(?<v>.*)$"; "s")
        | {(.k): (.v as $v | ($v | tonumber? // $v))})
  | add // {};

. + {values: ((.content // "") | pairs)}
