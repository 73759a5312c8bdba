"""Pins every direct dependency of pyproject.toml at its lower bound.

    python .ci/lowest_requirements.py [EXTRA ...] > lowest.txt
    pip install -c lowest.txt -e '.[test]'

Each requirement ``name>=X`` (with or without an environment marker) becomes
``name==X`` with the same marker; requirements without a lower bound are left
out. CI installs these to prove the floors are versions the code runs on.
"""

import re
import sys
import tomllib


def pins(requirements):
  for requirement in requirements:
    spec, _, marker = requirement.partition(';')
    found = re.match(r'\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)', spec)
    name, versions = found.group(1), found.group(3)
    floor = re.search(r'>=\s*([^,\s]+)', versions)
    if floor:
      yield f'{name}=={floor.group(1)}' + (f'; {marker.strip()}' if marker else '')


def main(extras):
  with open('pyproject.toml', 'rb') as f:
    project = tomllib.load(f)['project']
  requirements = list(project['dependencies'])
  for extra in extras:
    requirements += project['optional-dependencies'][extra]
  print('\n'.join(pins(requirements)))


if __name__ == '__main__':
  main(sys.argv[1:])
