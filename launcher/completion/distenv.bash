# bash completion for distenv and distenv-bootstrap
# (installed as share/bash-completion/completions/distenv and .../distenv-bootstrap)

_distenv_bootstrap_options="--project --dest --shared-store --julia-version --test-deps --no-gitignore
  --allow-secrets --plan --status --gc --report --pack-to --install-from --tree-hash --chunk-size --zstd-level
  --zstd-threads --workers --each-machine --instantiate --grace --connect-timeout --heartbeat-timeout
  --lock-timeout --link --color --broadcast --verbose --quiet --help --version"
_distenv_launch_options="--hostfile --hosts --mca -x --skip-unreachable --probe-timeout --mpirun --dry-run"

_distenv() {
  local cur prev words cword
  _init_completion 2>/dev/null || {
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    cword=$COMP_CWORD
    words=("${COMP_WORDS[@]}")
  }
  local i
  for ((i = 1; i < cword; i++)); do
    [[ ${words[i]} == -- ]] && { COMPREPLY=($(compgen -c -- "$cur")); return; }
  done
  case $prev in
    -p | --project | -d | --dest) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    -H | --hostfile | --report | --pack-to | --install-from | --mpirun) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --broadcast) COMPREPLY=($(compgen -W "auto chain tree twotree mpi" -- "$cur")); return ;;
    --link) COMPREPLY=($(compgen -W "auto reflink hardlink copy" -- "$cur")); return ;;
    --chunk-size | -w | --workers) COMPREPLY=($(compgen -W "auto" -- "$cur")); return ;;
  esac
  if [[ ${words[0]##*/} == distenv && $cword -eq 1 ]]; then
    COMPREPLY=($(compgen -W "run status plan gc path version --help" -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    local opts=$_distenv_bootstrap_options
    [[ ${words[0]##*/} == distenv ]] && opts="$opts $_distenv_launch_options --keep"
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  fi
}
complete -F _distenv distenv distenv-bootstrap
