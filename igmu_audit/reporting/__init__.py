"""Everything written for people and machines: terminal lines, evidence, Allure, records."""
