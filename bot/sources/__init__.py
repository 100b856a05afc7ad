"""The live corpus: pages added by URL and followed feeds, their state and their polling."""
