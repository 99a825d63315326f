#!/usr/bin/env bash
# The Hookline pull-request check, run by action.yml at the repository root:
# install hookline, validate and test a rules directory, compute the plan
# against the pull request's base, and keep one pull-request comment with
# that plan (updated on every push, removed when nothing changes).
#
# Everything comes from environment variables, the ones GitHub Actions sets
# and these, so that the repository's tests run this very script against a
# stand-in for GitHub's API (internal/cli/testdata/script/pr_check.txtar):
#   HOOKLINE_RULES       rules directory (default: rules)
#   HOOKLINE_BASE_REF    revision to compare with (default: origin/$GITHUB_BASE_REF)
#   HOOKLINE_COMMENT     "true" to keep the pull-request comment (default: true)
#   HOOKLINE_VERSION     go install this version (e.g. v1.2.0) ...
#   HOOKLINE_SOURCE      ... else build from this checkout (the action's own);
#                        with neither, use the hookline found on PATH
#   HOOKLINE_OUTPUT_DIR  where hookline-plan.md and hookline-tests.xml go
#                        (default: $RUNNER_TEMP, else the current directory)
# Exit status: 0 when the rules are valid and their tests pass, else 1; a
# comment that cannot be posted is a warning, not a failure (a pull request
# from a fork gets a read-only token).
set -uo pipefail

rules_dir=${HOOKLINE_RULES:-rules}
comment=${HOOKLINE_COMMENT:-true}
base_ref=${HOOKLINE_BASE_REF:-}
out_dir=${HOOKLINE_OUTPUT_DIR:-${RUNNER_TEMP:-.}}
api=${GITHUB_API_URL:-https://api.github.com}
marker='<!-- hookline-plan -->'

fail() {
  echo "::error title=Hookline check::$*"
  exit 1
}

install_hookline() {
  local bin="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/hookline-bin"
  if [ -n "${HOOKLINE_VERSION:-}" ]; then
    echo "Installing hookline ${HOOKLINE_VERSION}"
    GOBIN="$bin" go install "github.com/hookline/hookline/cmd/hookline@${HOOKLINE_VERSION}" ||
      fail "go install github.com/hookline/hookline/cmd/hookline@${HOOKLINE_VERSION} failed"
    PATH="$bin:$PATH"
  elif [ -n "${HOOKLINE_SOURCE:-}" ]; then
    echo "Building hookline from ${HOOKLINE_SOURCE}"
    (cd "$HOOKLINE_SOURCE" && go build -o "$bin/hookline" ./cmd/hookline) ||
      fail "building hookline from ${HOOKLINE_SOURCE} failed"
    PATH="$bin:$PATH"
  fi
  command -v hookline >/dev/null ||
    fail "hookline is not installed: set HOOKLINE_VERSION or HOOKLINE_SOURCE, or put hookline on PATH"
  hookline version
}

# github METHOD PATH [JSON_FILE]: one REST call; prints the response body,
# fails on anything but 2xx. GITHUB_API_URL points it elsewhere (GitHub
# Enterprise, or the tests' stand-in).
github() {
  local method=$1 path=$2 data=${3:-} out code
  local args=(-sS -X "$method" -w '\n%{http_code}'
    -H "Authorization: Bearer ${GITHUB_TOKEN:-}"
    -H "Accept: application/vnd.github+json"
    -H "X-GitHub-Api-Version: 2022-11-28")
  if [ -n "$data" ]; then
    args+=(-H "Content-Type: application/json" --data-binary "@$data")
  fi
  out=$(curl "${args[@]}" "$api$path") || return 1
  code=${out##*$'\n'}
  out=${out%"$code"}
  out=${out%$'\n'}
  if [ "$code" -lt 200 ] || [ "$code" -ge 300 ]; then
    echo "GitHub API: $method $path answered HTTP $code: $out" >&2
    return 1
  fi
  printf '%s' "$out"
}

# find_comment PR: the id of the comment holding the marker, or nothing.
find_comment() {
  local pr=$1 page=1 list id
  while :; do
    list=$(github GET "/repos/$GITHUB_REPOSITORY/issues/$pr/comments?per_page=100&page=$page") || return 1
    id=$(jq -r --arg m "$marker" 'map(select(.body | contains($m))) | .[0].id // empty' <<<"$list") || return 1
    if [ -n "$id" ]; then
      echo "$id"
      return 0
    fi
    if [ "$(jq length <<<"$list")" -lt 100 ]; then
      return 0
    fi
    page=$((page + 1))
  done
}

# update_comment PR BODY_FILE|"": create or update the comment with the
# body, or delete it when the body is "".
update_comment() {
  local pr=$1 body=$2 id json
  id=$(find_comment "$pr") || return 1
  if [ -z "$body" ]; then
    if [ -n "$id" ]; then
      github DELETE "/repos/$GITHUB_REPOSITORY/issues/comments/$id" >/dev/null || return 1
      echo "Removed the plan comment: the pull request no longer changes the rules."
    fi
    return 0
  fi
  json="$out_dir/hookline-comment.json"
  jq -n --rawfile body "$body" '{body: $body}' >"$json" || return 1
  if [ -n "$id" ]; then
    github PATCH "/repos/$GITHUB_REPOSITORY/issues/comments/$id" "$json" >/dev/null || return 1
    echo "Updated the plan comment on pull request #$pr."
  else
    github POST "/repos/$GITHUB_REPOSITORY/issues/$pr/comments" "$json" >/dev/null || return 1
    echo "Posted the plan on pull request #$pr."
  fi
}

# truncate_comment FILE: GitHub refuses comments over 65,536 characters;
# a longer plan is cut at a line, its code block closed, and the reader sent
# to the job summary, which holds it whole.
truncate_comment() {
  local file=$1 limit=60000
  if [ "$(wc -c <"$file")" -le "$limit" ]; then
    return 0
  fi
  awk -v limit="$limit" '
    { n += length($0) + 1; if (n > limit) exit; print; if ($0 ~ /^```/) fence = !fence }
    END {
      if (fence) print "```"
      print ""
      print "The plan is longer than a pull-request comment may be: the rest is in the job summary of this check."
    }' "$file" >"$file.cut" && mv "$file.cut" "$file"
}

install_hookline
mkdir -p "$out_dir"
if [ -z "$base_ref" ]; then
  [ -n "${GITHUB_BASE_REF:-}" ] ||
    fail "no base to compare with: run on pull_request events, or set the base-ref input (HOOKLINE_BASE_REF)"
  base_ref="origin/$GITHUB_BASE_REF"
fi

status=0
echo "::group::hookline validate $rules_dir"
hookline validate --format github "$rules_dir" || status=1
echo "::endgroup::"

junit="$out_dir/hookline-tests.xml"
echo "::group::hookline test $rules_dir"
hookline test "$rules_dir" || status=1
hookline test --format junit "$rules_dir" >"$junit"
echo "::endgroup::"

plan="$out_dir/hookline-plan.md"
echo "::group::hookline plan $rules_dir --base-ref $base_ref"
plan_status=0
hookline plan "$rules_dir" --base-ref "$base_ref" --format markdown --detailed-exitcode >"$plan" || plan_status=$?
cat "$plan"
echo "::endgroup::"
case $plan_status in
0) changes=false ;;
2) changes=true ;;
*)
  changes=unknown
  status=1
  {
    echo "### Hookline plan: could not be computed"
    echo
    echo "The rules on this branch or at \`$base_ref\` do not load; the check's log says why."
  } >"$plan"
  ;;
esac

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$plan" >>"$GITHUB_STEP_SUMMARY"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "changes=$changes"
    echo "plan=$plan"
    echo "junit=$junit"
  } >>"$GITHUB_OUTPUT"
fi

if [ "$comment" = "true" ]; then
  pr=""
  if [ -n "${GITHUB_EVENT_PATH:-}" ] && [ -f "$GITHUB_EVENT_PATH" ] && command -v jq >/dev/null; then
    pr=$(jq -r '.pull_request.number // .number // empty' "$GITHUB_EVENT_PATH")
  fi
  if ! command -v jq >/dev/null; then
    echo "::warning title=Hookline plan comment::jq is not installed, so the plan was not posted."
  elif [ -z "$pr" ]; then
    echo "Not a pull request: no comment to keep."
  else
    body="$out_dir/hookline-comment.md"
    if [ "$changes" = false ]; then
      body=""
    else
      { echo "$marker"; cat "$plan"; } >"$body"
      truncate_comment "$body"
    fi
    update_comment "$pr" "$body" ||
      echo "::warning title=Hookline plan comment::The plan could not be posted on pull request #$pr (the token needs pull-requests: write; a pull request from a fork gets a read-only one). It is in the job summary."
  fi
fi
exit $status
