/**
 * The demo's agent: an application using the unmodified `openai` SDK. It is configured
 * the way any OpenAI application is, by environment: OPENAI_BASE_URL (the gateway),
 * OPENAI_API_KEY (its JWT-SVID, not a provider key) and NODE_EXTRA_CA_CERTS (the
 * gateway's CA). Prints one JSON line: the status and body it got back.
 */
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0 });
try {
  const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] });
  console.log(JSON.stringify({ status: 200, body: completion }));
} catch (error) {
  if (!(error instanceof OpenAI.APIError)) throw error;
  console.log(JSON.stringify({ status: error.status, body: error.error }));
}
