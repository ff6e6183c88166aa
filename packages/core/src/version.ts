/** Version of the agent and CLI software. */
export const AGENT_VERSION = '0.1.0';
/** Wire protocol version: agents with different versions refuse to migrate between each other. */
export const PROTOCOL_VERSION = 8;
/** Default TCP port of the agent. */
export const DEFAULT_AGENT_PORT = 7411;
