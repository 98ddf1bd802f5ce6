/** `rpcgw completion`: a bash completion script made from the command table (commands, then each command's options). */
import type { CommandSpec } from './args.js';

export function bashCompletion(script: string, commands: readonly CommandSpec[]): string {
  const names = commands.map((c) => c.usage.split(' ')[0]!);
  const cases = commands
    .map((c) => {
      const opts = [...Object.keys(c.options ?? {}).map((o) => `--${o}`), '--help'];
      // Options that take a file name complete files; the rest complete the option list.
      return `    ${c.usage.split(' ')[0]}) opts="${opts.join(' ')}" ;;`;
    })
    .join('\n');
  const fn = `_${script.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  return `# bash completion for ${script}
${fn}() {
  local cur prev cmd opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${names.join(' ')} --help --version" -- "$cur") )
    return
  fi
  cmd="\${COMP_WORDS[1]}"
  case "$prev" in
    --rules|--out|--report|--socket) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  case "$cmd" in
${cases}
    *) opts="--help" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -F ${fn} ${script}
`;
}
