// Allure 3 configuration for igmu-audit compliance reports: one self-contained HTML file
// (opens over file://, no server), tests grouped by CatIGMU task > EvalIGMU aspect > concept.
export default {
  name: "igmu-audit compliance report",
  plugins: {
    awesome: {
      options: {
        singleFile: true,
        groupBy: ["epic", "feature", "story"],
      },
    },
  },
};
