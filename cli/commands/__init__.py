"""One module per command. Each command is ``async def run(service, user, args, session) -> exit code``."""
