// responses.create through the official openai Node SDK, plain then streamed, for each model
// named; prints what the client saw as one JSON object for the Python test to check.
// Usage: node responses.mjs <base url> <gateway key> <user id> <question> <model>...
import OpenAI from "openai";

const [baseURL, apiKey, user, question, ...models] = process.argv.slice(2);
const client = new OpenAI({
  baseURL,
  apiKey,
  maxRetries: 0,
  defaultHeaders: { "X-User-Id": user },
});

async function plain(model) {
  const { data, response } = await client.responses
    .create({ model, input: question })
    .withResponse();
  return { text: data.output_text, memory: response.headers.get("x-memory-status") };
}

async function streamed(model) {
  const stream = await client.responses.create({ model, input: question, stream: true });
  const types = [];
  let text = "";
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === "response.output_text.delta") text += event.delta;
  }
  return { text, types };
}

const seen = {};
for (const model of models) {
  seen[model] = { plain: await plain(model), stream: await streamed(model) };
}
console.log(JSON.stringify(seen));
