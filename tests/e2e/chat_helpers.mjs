// Helpers for reading chat answers that more than one end-to-end test file needs.

/** Rebuilds complete tool calls from streamed deltas, keyed by their index. */
export function assembleToolCalls(chunks) {
  const calls = [];
  for (const chunk of chunks) {
    for (const fragment of chunk.choices[0]?.delta?.tool_calls ?? []) {
      const call = (calls[fragment.index] ??= {
        id: undefined,
        type: 'function',
        function: { name: '', arguments: '' },
      });
      if (fragment.id) call.id = fragment.id;
      if (fragment.type) call.type = fragment.type;
      if (fragment.function?.name) call.function.name += fragment.function.name;
      if (fragment.function?.arguments) call.function.arguments += fragment.function.arguments;
    }
  }
  return calls;
}
