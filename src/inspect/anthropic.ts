/**
 * Facts from an Anthropic Messages request body (`/v1/messages`): `model`, `stream`,
 * `max_tokens`, and the names of the tools offered (client tools and server tools alike
 * carry `name`).
 */
import { maxTokensFact, modelFact, streamFact, toolNames } from './llm-fields.ts';
import { topLevelObject } from './object-keys.ts';
import { nameFact, own, type BodyFacts } from './types.ts';

const READ = new Set(['model', 'stream', 'max_tokens', 'tools']);

export function anthropicFacts(json: unknown, path: string): BodyFacts {
  const body = topLevelObject(json, READ);
  const maxOutputTokens = maxTokensFact(body, ['max_tokens']);
  return {
    api: 'anthropic',
    ...(path.endsWith('/messages') ? { operation: 'chat' } : path.endsWith('/complete') ? { operation: 'text_completion' } : {}),
    ...modelFact(body),
    stream: streamFact(body),
    ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
    tools: toolNames(own(body, 'tools'), (tool) => nameFact(own(tool, 'name'))),
  };
}
