"""Understanding: language, rules, entities, the classifier and the LLM stage."""
