"""Content tables for the format and helpful pairs of ``prefzoo.worlds.hh_pairs`` (written for prefzoo).

* ``JSON_OBJECTS``: (what the object describes, its fields). The chosen reply is the object as JSON.
* ``LISTS``: (topic, at least six items). The chosen reply is a numbered list of the asked length.
* ``SHORT_ANSWERS``: (question, a short answer, a long answer). The chosen reply fits the word limit.
* ``FACTS``: (question, correct answer, a wrong answer, strings that mark an answer correct).
* ``PADDING``: filler sentences that make the padded rejected helpful replies run long.
"""
from __future__ import annotations

JSON_OBJECTS: list[tuple[str, dict]] = [
    ("the Moon", {"name": "Moon", "type": "natural satellite", "orbits": "Earth"}),
    ("the city of Rome", {"city": "Rome", "country": "Italy", "river": "Tiber"}),
    ("a guitar", {"instrument": "guitar", "strings": 6, "family": "string"}),
    ("the Nile", {"river": "Nile", "continent": "Africa", "length_km": 6650}),
    ("a bicycle", {"vehicle": "bicycle", "wheels": 2, "powered_by": "pedals"}),
    ("the element helium", {"element": "helium", "symbol": "He", "atomic_number": 2}),
    ("a dog breed, the beagle", {"breed": "beagle", "size": "medium", "group": "hound"}),
    ("the planet Saturn", {"planet": "Saturn", "has_rings": True, "position": 6}),
    ("the Great Wall", {"landmark": "Great Wall", "country": "China"}),
    ("a cup of green tea", {"drink": "green tea", "hot": True, "caffeine": "moderate"}),
    ("Australia", {"country": "Australia", "capital": "Canberra", "continent": "Oceania"}),
    ("a triangle", {"shape": "triangle", "sides": 3, "angle_sum_degrees": 180}),
    ("the novel Pride and Prejudice", {"title": "Pride and Prejudice", "author": "Jane Austen", "year": 1813}),
    ("a hotel booking with made-up details", {"guest": "Ana Silva", "nights": 3, "room": "double"}),
    ("the color of a clear daytime sky", {"object": "sky", "color": "blue"}),
    ("a laptop", {"device": "laptop", "screen_inches": 14, "battery_hours": 10}),
    ("the Amazon rainforest", {"name": "Amazon rainforest", "continent": "South America"}),
    ("the number seven", {"number": 7, "is_prime": True, "is_even": False}),
    ("an apple", {"fruit": "apple", "color": "red", "grows_on": "trees"}),
    ("a weekly meeting invite with made-up details", {"title": "Team sync", "day": "Monday", "time": "10:00"}),
    ("the Pacific Ocean's deepest point", {"name": "Challenger Deep", "ocean": "Pacific", "depth_m": 10935}),
    ("Egypt", {"country": "Egypt", "capital": "Cairo", "currency": "Egyptian pound"}),
    ("a penguin", {"animal": "penguin", "can_fly": False, "habitat": "Southern Hemisphere"}),
    ("a library book loan with made-up values", {"book": "Dune", "borrower": "Sam", "due_in_days": 14}),
    ("the Eiffel Tower's height", {"landmark": "Eiffel Tower", "height_m": 330}),
    ("water", {"substance": "water", "formula": "H2O", "boils_at_c": 100}),
    ("a piano", {"instrument": "piano", "keys": 88}),
    ("the inventor of the telephone", {"invention": "telephone", "inventor": "Alexander Graham Bell"}),
    ("a basketball team", {"sport": "basketball", "players_on_court": 5}),
    ("the month of February", {"month": "February", "days": 28, "leap_year_days": 29}),
    ("a pizza order with made-up details", {"size": "large", "topping": "mushroom", "quantity": 2}),
    ("a spider", {"animal": "spider", "legs": 8, "class": "arachnid"}),
    ("the Sun", {"name": "Sun", "type": "star", "age_billion_years": 4.6}),
    ("a made-up employee record", {"name": "Lee Park", "department": "Finance", "years": 4}),
    ("the language spoken in Mexico", {"country": "Mexico", "language": "Spanish"}),
    ("a rose", {"flower": "rose", "has_thorns": True}),
    ("a chess board", {"game": "chess", "squares": 64, "pieces_per_player": 16}),
    ("Mount Kilimanjaro", {"mountain": "Kilimanjaro", "country": "Tanzania", "height_m": 5895}),
    ("a weather reading for a rainy day", {"condition": "rain", "temperature_c": 12, "humidity": 90}),
    ("the first person on the Moon", {"name": "Neil Armstrong", "year": 1969, "mission": "Apollo 11"}),
]

LISTS: list[tuple[str, list[str]]] = [
    ("tips for staying focused while working from home",
     ["Keep a fixed start time", "Work in a dedicated spot", "Turn off phone notifications", "Take short breaks",
      "Plan tomorrow's tasks tonight", "Get dressed as if going out"]),
    ("vegetables that grow well in containers",
     ["Tomatoes", "Lettuce", "Peppers", "Radishes", "Spinach", "Green onions"]),
    ("things to check before a long road trip",
     ["Tyre pressure", "Oil level", "Windscreen washer fluid", "Lights", "Spare tyre", "Brakes"]),
    ("ways to make a small apartment feel bigger",
     ["Use mirrors", "Choose light colours", "Add hidden storage", "Keep floors clear", "Use multi-purpose furniture",
      "Let in natural light"]),
    ("classic novels worth reading",
     ["Jane Eyre", "Moby-Dick", "War and Peace", "Great Expectations", "Don Quixote", "Middlemarch"]),
    ("habits that help you sleep better",
     ["Keep a regular bedtime", "Avoid caffeine after noon", "Keep the bedroom dark", "Put screens away early",
      "Exercise during the day", "Keep the room cool"]),
    ("animals that live in the Arctic",
     ["Polar bear", "Arctic fox", "Walrus", "Snowy owl", "Narwhal", "Reindeer"]),
    ("ways to practise a new language",
     ["Talk with a language partner", "Watch shows with subtitles", "Use a flashcard app", "Read children's books",
      "Label things at home", "Keep a short daily journal"]),
    ("things to bring on a day hike",
     ["Water", "Snacks", "A map", "Sunscreen", "A rain jacket", "A first aid kit"]),
    ("musical instruments in an orchestra",
     ["Violin", "Cello", "Flute", "Trumpet", "Timpani", "Clarinet"]),
    ("ideas for a cheap date night",
     ["Cook dinner together", "Have a picnic", "Go stargazing", "Visit a free museum", "Play board games",
      "Take a sunset walk"]),
    ("questions to ask at the end of a job interview",
     ["What does a typical day look like?", "How is success measured in this role?", "What is the team like?",
      "What are the next steps?", "What do you enjoy about working here?", "What challenges is the team facing?"]),
    ("ways to reduce food waste at home",
     ["Plan meals before shopping", "Store food properly", "Freeze leftovers", "Use older items first",
      "Compost scraps", "Cook smaller portions"]),
    ("European capital cities",
     ["Madrid", "Lisbon", "Vienna", "Prague", "Dublin", "Warsaw"]),
    ("ways to keep a houseplant healthy",
     ["Water only when the soil is dry", "Give it enough light", "Use a pot with drainage", "Dust the leaves",
      "Feed it in spring", "Repot it when roots fill the pot"]),
    ("healthy snacks for the office",
     ["Almonds", "Greek yogurt", "Apple slices", "Carrot sticks with hummus", "Rice cakes", "Boiled eggs"]),
    ("skills every new programmer should learn",
     ["Version control with Git", "Reading error messages", "Writing tests", "Using a debugger",
      "Searching documentation", "Naming things clearly"]),
    ("famous composers",
     ["Bach", "Mozart", "Beethoven", "Chopin", "Tchaikovsky", "Debussy"]),
    ("ways to save energy at home",
     ["Switch to LED bulbs", "Unplug idle chargers", "Wash clothes in cold water", "Seal drafty windows",
      "Lower the thermostat a little", "Air-dry dishes"]),
    ("things that make a good team meeting",
     ["A clear agenda", "A fixed end time", "The right people only", "Written decisions", "Named owners for tasks",
      "Time for questions"]),
    ("fun things to do on a snowy day",
     ["Build a snowman", "Go sledding", "Make hot chocolate", "Have a snowball fight", "Bake cookies",
      "Watch a movie marathon"]),
    ("ways to be a better friend",
     ["Listen without interrupting", "Remember important dates", "Check in regularly", "Keep their secrets",
      "Celebrate their wins", "Apologise when you are wrong"]),
    ("types of clouds",
     ["Cumulus", "Stratus", "Cirrus", "Nimbostratus", "Cumulonimbus", "Altostratus"]),
    ("ways to stay safe while cycling in a city",
     ["Wear a helmet", "Use lights at night", "Signal before turning", "Stay out of blind spots",
      "Ride with traffic", "Watch for opening car doors"]),
    ("kinds of renewable energy",
     ["Solar", "Wind", "Hydroelectric", "Geothermal", "Tidal", "Biomass"]),
    ("tips for a first-time gardener",
     ["Start small", "Learn your soil type", "Pick easy plants", "Water in the morning", "Mulch your beds",
      "Keep a garden notebook"]),
    ("things to include in a cover letter",
     ["The job title", "Why you want the role", "A relevant achievement", "Skills that match the posting",
      "A polite closing", "Your contact details"]),
    ("sports played with a ball",
     ["Football", "Tennis", "Basketball", "Volleyball", "Cricket", "Baseball"]),
    ("ways to calm down before a big exam",
     ["Take slow deep breaths", "Review a summary sheet", "Get enough sleep", "Eat a light meal",
      "Arrive early", "Remind yourself you prepared"]),
    ("common kitchen herbs",
     ["Basil", "Parsley", "Thyme", "Rosemary", "Mint", "Oregano"]),
    ("steps for writing a short essay",
     ["Pick a clear thesis", "Make an outline", "Write the body paragraphs", "Write the introduction",
      "Write the conclusion", "Proofread"]),
    ("ways to make a long flight more comfortable",
     ["Wear comfortable layers", "Bring a neck pillow", "Stay hydrated", "Walk the aisle now and then",
      "Use noise-cancelling headphones", "Download shows in advance"]),
    ("birds you might see in a city park",
     ["Pigeon", "Sparrow", "Crow", "Robin", "Starling", "Mallard"]),
    ("ways to keep kids busy on a rainy afternoon",
     ["Build a blanket fort", "Do a puzzle", "Bake muffins", "Put on a puppet show", "Paint pictures",
      "Have a treasure hunt"]),
    ("programming languages used for web development",
     ["JavaScript", "TypeScript", "Python", "PHP", "Ruby", "Go"]),
    ("things to do when you move to a new city",
     ["Register with a doctor", "Explore your neighbourhood", "Join a club", "Find a good grocery store",
      "Update your address", "Learn the public transport routes"]),
    ("ways to lower stress at work",
     ["Make a daily to-do list", "Take a real lunch break", "Say no to extra tasks", "Go for short walks",
      "Keep your desk tidy", "Talk to your manager early about problems"]),
    ("popular dog breeds",
     ["Labrador Retriever", "German Shepherd", "Golden Retriever", "Poodle", "Bulldog", "Beagle"]),
    ("things to pack for a camping trip",
     ["A tent", "A sleeping bag", "A torch", "A camping stove", "Matches", "Warm clothes"]),
    ("ingredients for a basic pancake batter",
     ["Flour", "Milk", "Eggs", "Sugar", "Baking powder", "Salt"]),
]

SHORT_ANSWERS: list[tuple[str, str, str]] = [
    ("what is a noun?", "A noun is a word that names a person, place, thing or idea.",
     "A noun is one of the main parts of speech in English grammar, and it is a word that we use to name a "
     "person, a place, a thing or an idea, such as teacher, London, table or happiness, and nouns can be "
     "singular or plural."),
    ("what does a thermometer measure?", "A thermometer measures temperature.",
     "A thermometer is an instrument that people use in homes, hospitals, laboratories and weather stations to "
     "measure temperature, which tells you how hot or cold something is, and it can be digital or use liquid."),
    ("why do we need sleep?", "Sleep lets the body repair itself and the brain store memories.",
     "We need sleep for many different reasons, because while we sleep the body repairs muscles and tissues, "
     "the immune system gets stronger, the brain sorts and stores the memories of the day, and hormones that "
     "control mood and appetite are balanced."),
    ("what is a comet?", "A comet is a ball of ice and dust that orbits the Sun.",
     "A comet is a small body in our solar system that is made mostly of ice, dust and rock, and when it "
     "travels close to the Sun the ice heats up and turns into gas, which creates a glowing head and a long "
     "tail that can stretch for millions of kilometres."),
    ("what is democracy?", "Democracy is government in which citizens choose their leaders by voting.",
     "Democracy is a system of government in which power belongs to the people, who usually choose their "
     "leaders and representatives by voting in free and fair elections, and where rights like free speech and "
     "the rule of law protect citizens from abuse of power."),
    ("what does a pharmacist do?", "A pharmacist prepares medicines and advises people on using them safely.",
     "A pharmacist is a trained health professional who works in a pharmacy or a hospital, where they prepare "
     "and hand out prescription medicines, check that different drugs are safe to take together, and give "
     "people advice about doses, side effects and minor illnesses."),
    ("what is an island?", "An island is land surrounded on all sides by water.",
     "An island is a piece of land, which can be very small or very large, that is completely surrounded by "
     "water on every side, whether that water is an ocean, a sea, a lake or a river, like Greenland or Sicily."),
    ("what is a verb?", "A verb is a word for an action or a state, like run or be.",
     "A verb is a word that describes an action that someone or something does, such as run, eat or write, or "
     "a state of being, such as be or seem, and verbs change their form to show when the action happens."),
    ("how do bees help plants?", "Bees carry pollen between flowers, which lets plants make seeds and fruit.",
     "Bees help plants in a very important way, because when they visit flowers to collect nectar and pollen "
     "for food, pollen sticks to their hairy bodies and gets carried to other flowers, which pollinates them "
     "so that they can produce seeds and fruit."),
    ("what is a desert?", "A desert is a region that gets very little rain.",
     "A desert is a large area of land that receives very little rain or snow during the year, usually less "
     "than 250 millimetres, and it can be hot like the Sahara or cold like Antarctica, with few plants and "
     "animals that have adapted to survive there."),
    ("what is a calendar?", "A calendar is a system for organising days into weeks, months and years.",
     "A calendar is a system that people use for organising and naming days, and it groups them into weeks, "
     "months and years so that we can plan events, keep track of dates and mark holidays, like the Gregorian "
     "calendar used in most of the world."),
    ("what does a librarian do?", "A librarian helps people find books and information.",
     "A librarian is a person who works in a library, where they organise the collection of books and other "
     "materials, help visitors find the information or books they are looking for, run reading programmes "
     "and teach people how to use research tools."),
    ("what is a glacier?", "A glacier is a huge, slow-moving mass of ice on land.",
     "A glacier is a very large and thick mass of ice that forms on land over many years when more snow falls "
     "than melts, and it moves very slowly downhill under its own weight, carving valleys and shaping "
     "mountains as it goes."),
    ("what is a metaphor?", "A metaphor describes something by calling it something else, like 'time is money'.",
     "A metaphor is a figure of speech that writers and speakers use to describe something by saying that it "
     "is something else, which it is not literally, in order to suggest a likeness between them, for example "
     "'time is money' or 'the world is a stage'."),
    ("what does a compass do?", "A compass shows which way is north.",
     "A compass is a navigation instrument with a magnetised needle that lines up with Earth's magnetic field, "
     "so that it points towards magnetic north, which helps hikers, sailors and pilots work out which "
     "direction they are facing and travelling."),
    ("what is an atom?", "An atom is the smallest unit of a chemical element.",
     "An atom is the smallest unit of ordinary matter that still has the properties of a chemical element, "
     "and it is made of a tiny nucleus of protons and neutrons surrounded by a cloud of electrons, which "
     "together make up everything around us."),
    ("why do we have leap years?", "Leap years keep the calendar in step with Earth's orbit around the Sun.",
     "We have leap years because a year on Earth, which is the time it takes to orbit the Sun, is about 365 "
     "and a quarter days long, so an extra day is added to February every four years to keep the calendar "
     "lined up with the seasons."),
    ("what is a haiku?", "A haiku is a short Japanese poem of three lines.",
     "A haiku is a traditional form of Japanese poetry that has three short lines, usually with five, seven "
     "and five syllables, and it often describes a moment in nature or a season in simple, vivid images "
     "that leave the reader thinking."),
    ("what does a dentist do?", "A dentist checks, cleans and treats teeth and gums.",
     "A dentist is a doctor who specialises in the mouth, and they examine teeth and gums, clean them, fill "
     "cavities, treat infections, fit crowns and braces, and give advice on brushing and flossing so that "
     "people keep their teeth healthy for life."),
    ("what is a marathon?", "A marathon is a running race of about 42 kilometres.",
     "A marathon is a long-distance running race that covers 42.195 kilometres, or about 26.2 miles, and it "
     "is named after the Greek legend of a messenger who ran from the town of Marathon to Athens, and today "
     "many cities hold one every year."),
    ("what is an ecosystem?", "An ecosystem is living things and their environment working together.",
     "An ecosystem is a community of living things, such as plants, animals and microbes, together with the "
     "non-living parts of their environment, such as water, soil and air, all interacting with one another "
     "in a place like a forest, a pond or a coral reef."),
    ("what is a simile?", "A simile compares two things using like or as.",
     "A simile is a figure of speech that compares two different things in order to describe one of them "
     "more vividly, and it always uses the word like or as to make the comparison, for example 'as brave as "
     "a lion' or 'she sings like an angel'."),
    ("what does a referee do?", "A referee enforces the rules during a game.",
     "A referee is an official who watches a sports match closely to make sure that everybody follows the "
     "rules, and they make decisions about fouls and penalties, stop and restart play, keep time and can "
     "send off players who behave badly."),
    ("what is a budget?", "A budget is a plan for how you will spend and save money.",
     "A budget is a financial plan that lists how much money you expect to earn over a period of time and "
     "how you intend to spend it and save it, which helps you avoid debt, pay your bills on time and work "
     "towards goals like a holiday or a house."),
    ("what is erosion?", "Erosion is the wearing away of land by water, wind or ice.",
     "Erosion is a natural process in which rock and soil are slowly worn away and carried off to other "
     "places by moving water, wind, ice and gravity, and over very long periods of time it shapes valleys, "
     "canyons, cliffs and coastlines."),
    ("what does an architect do?", "An architect designs buildings and plans their construction.",
     "An architect is a professional who designs buildings and other structures, and they work with clients "
     "to understand what is needed, draw plans and models, make sure the design is safe and meets the rules, "
     "and often oversee the construction itself."),
    ("what is a volcano's crater?", "A crater is the bowl-shaped opening at the top of a volcano.",
     "A volcano's crater is the large, bowl-shaped hollow that forms at the top of the volcano around its "
     "main vent, where lava, ash and gases come out during an eruption, and sometimes a crater fills with "
     "water and becomes a beautiful lake."),
    ("what is a pronoun?", "A pronoun is a word that stands in for a noun, like she or it.",
     "A pronoun is a word that we use in place of a noun so that we do not have to repeat the same noun "
     "over and over again, for example he, she, it, they, we and you, and pronouns can refer to people, "
     "animals, things or ideas."),
    ("what is a solar eclipse?", "A solar eclipse is when the Moon passes between Earth and the Sun.",
     "A solar eclipse is an event that happens when the Moon moves directly between the Earth and the Sun, "
     "so that it blocks some or all of the sunlight and casts a shadow on part of the Earth, turning day "
     "into a strange twilight for a few minutes."),
    ("what does a veterinarian do?", "A veterinarian is a doctor who treats animals.",
     "A veterinarian is a doctor who has trained to care for the health of animals, including pets, farm "
     "animals and sometimes wildlife, and they examine animals, diagnose illnesses, give vaccinations, "
     "perform surgery and advise owners on feeding and care."),
    ("what is a fossil?", "A fossil is the preserved remains or trace of an ancient living thing.",
     "A fossil is the preserved remains, impression or trace of a plant or an animal that lived a very long "
     "time ago, often millions of years, and fossils usually form when the living thing is buried in mud or "
     "sand that slowly hardens into rock."),
    ("what is gravity?", "Gravity is the force that pulls objects towards each other.",
     "Gravity is the natural force of attraction that pulls all objects that have mass towards one another, "
     "and it is the reason why things fall to the ground when you drop them, why the Moon orbits the Earth, "
     "and why the planets orbit the Sun."),
]

FACTS: list[tuple[str, str, str, list[str]]] = [
    ("What is the capital of Peru?", "The capital of Peru is Lima.", "The capital of Peru is Cusco.", ["Lima"]),
    ("How many strings does a standard violin have?", "A standard violin has four strings.",
     "A standard violin has six strings.", ["four", "4"]),
    ("Who developed the theory of relativity?", "Albert Einstein developed the theory of relativity.",
     "Isaac Newton developed the theory of relativity.", ["Einstein"]),
    ("What is the chemical symbol for iron?", "The chemical symbol for iron is Fe.",
     "The chemical symbol for iron is Ir.", ["Fe"]),
    ("Which planet is closest to the Sun?", "Mercury is the closest planet to the Sun.",
     "Venus is the closest planet to the Sun.", ["Mercury"]),
    ("How many bones are in the adult human body?", "An adult human body has 206 bones.",
     "An adult human body has 312 bones.", ["206"]),
    ("What is the longest river in South America?", "The Amazon is the longest river in South America.",
     "The Orinoco is the longest river in South America.", ["Amazon"]),
    ("In which country are the pyramids of Giza?", "The pyramids of Giza are in Egypt.",
     "The pyramids of Giza are in Mexico.", ["Egypt"]),
    ("What is the hardest natural substance?", "Diamond is the hardest natural substance.",
     "Granite is the hardest natural substance.", ["diamond"]),
    ("How many players are on a soccer team on the field?", "Each soccer team has 11 players on the field.",
     "Each soccer team has 9 players on the field.", ["11", "eleven"]),
    ("Who wrote the novel 1984?", "George Orwell wrote 1984.", "Aldous Huxley wrote that novel.", ["Orwell"]),
    ("What is the smallest prime number?", "The smallest prime number is 2.",
     "The smallest prime number is 1.", ["2", "two"]),
    ("What is the capital of Kenya?", "The capital of Kenya is Nairobi.", "The capital of Kenya is Mombasa.",
     ["Nairobi"]),
    ("What is the main gas in Earth's atmosphere?", "Nitrogen is the main gas in Earth's atmosphere.",
     "Oxygen is the main gas in Earth's atmosphere.", ["nitrogen"]),
    ("How many hours are in a week?", "There are 168 hours in a week.", "There are 148 hours in a week.",
     ["168"]),
    ("Which animal is the largest mammal?", "The blue whale is the largest mammal.",
     "The African elephant is the largest mammal.", ["blue whale"]),
    ("What currency is used in the United Kingdom?", "The United Kingdom uses the pound sterling.",
     "The United Kingdom uses the euro.", ["pound"]),
    ("Who was the first President of the United States?", "George Washington was the first President.",
     "Thomas Jefferson was the first President.", ["Washington"]),
    ("What is the capital of South Korea?", "The capital of South Korea is Seoul.",
     "The capital of South Korea is Busan.", ["Seoul"]),
    ("How many degrees are in a right angle?", "A right angle is 90 degrees.", "A right angle is 180 degrees.",
     ["90", "ninety"]),
    ("What organ pumps blood around the body?", "The heart pumps blood around the body.",
     "The liver pumps blood around the body.", ["heart"]),
    ("Which metal is liquid at room temperature?", "Mercury is the metal that is liquid at room temperature.",
     "Aluminium is the metal that is liquid at room temperature.", ["mercury"]),
    ("What is the tallest mountain on Earth?", "Mount Everest is the tallest mountain on Earth.",
     "K2 is the tallest mountain on Earth.", ["Everest"]),
    ("Who painted The Starry Night?", "Vincent van Gogh painted The Starry Night.",
     "Claude Monet painted The Starry Night.", ["van Gogh", "Gogh"]),
    ("How many sides does an octagon have?", "An octagon has eight sides.", "An octagon has six sides.",
     ["eight", "8"]),
    ("What is the capital of Argentina?", "The capital of Argentina is Buenos Aires.",
     "The capital of Argentina is Cordoba.", ["Buenos Aires"]),
    ("What do caterpillars turn into?", "Caterpillars turn into butterflies or moths.",
     "Caterpillars turn into beetles.", ["butterfl", "moth"]),
    ("What is the largest desert in the world?", "Antarctica is the largest desert; the Sahara is the largest hot one.",
     "The Gobi is the largest desert in the world.", ["Antarctic", "Sahara"]),
    ("How many centimetres are in a metre?", "There are 100 centimetres in a metre.",
     "There are 1,000 centimetres in a metre.", ["100"]),
    ("Which gas do humans breathe out that plants use?", "Humans breathe out carbon dioxide, which plants use.",
     "Humans breathe out helium, which plants use.", ["carbon dioxide", "CO2"]),
    ("What is the capital of Spain?", "The capital of Spain is Madrid.", "The capital of Spain is Barcelona.",
     ["Madrid"]),
    ("What language has the most native speakers?", "Mandarin Chinese has the most native speakers.",
     "English has the most native speakers.", ["Mandarin", "Chinese"]),
    ("How many weeks are in a year?", "A year has 52 weeks.", "A year has 48 weeks.", ["52"]),
    ("Who discovered penicillin?", "Alexander Fleming discovered penicillin in 1928.",
     "Louis Pasteur discovered penicillin.", ["Fleming"]),
    ("What is frozen water called?", "Frozen water is called ice.", "Frozen water is called steam.", ["ice"]),
    ("Which continent is Nigeria in?", "Nigeria is in Africa.", "Nigeria is in Asia.", ["Africa"]),
    ("What is the capital of Turkey?", "The capital of Turkey is Ankara.", "The capital of Turkey is Istanbul.",
     ["Ankara"]),
    ("How many teeth does an adult human usually have?", "An adult usually has 32 teeth.",
     "An adult usually has 24 teeth.", ["32"]),
    ("What planet has the most famous rings?", "Saturn has the most famous rings.",
     "Mars has the most famous rings.", ["Saturn"]),
    ("In what year did World War II end?", "World War II ended in 1945.", "World War II ended in 1939.",
     ["1945"]),
    ("What is the square root of 144?", "The square root of 144 is 12.", "The square root of 144 is 14.",
     ["12", "twelve"]),
    ("Which instrument has black and white keys?", "The piano has black and white keys.",
     "The violin has black and white keys.", ["piano"]),
    ("What is the capital of Norway?", "The capital of Norway is Oslo.", "The capital of Norway is Bergen.",
     ["Oslo"]),
    ("What vitamin does sunlight help the body make?", "Sunlight helps the body make vitamin D.",
     "Sunlight helps the body make vitamin C.", ["vitamin D"]),
    ("How many colours are in a rainbow?", "A rainbow has seven colours.", "A rainbow has five colours.",
     ["seven", "7"]),
    ("Who wrote Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice.",
     "Charlotte Bronte wrote Pride and Prejudice.", ["Austen"]),
    ("What is the largest country by area?", "Russia is the largest country by area.",
     "Canada is the largest country by area.", ["Russia"]),
    ("What is the boiling point of water in Fahrenheit?", "Water boils at 212 degrees Fahrenheit at sea level.",
     "Water boils at 100 degrees Fahrenheit at sea level.", ["212"]),
    ("Which bird is a symbol of peace?", "The dove is a symbol of peace.", "The crow is a symbol of peace.",
     ["dove"]),
    ("What is the capital of Australia?", "The capital of Australia is Canberra.",
     "The capital of Australia is Sydney.", ["Canberra"]),
]

PADDING = [
    "That's a really interesting question, and it's one that a lot of people wonder about.",
    "Before I answer, it's worth taking a moment to think about why this matters.",
    "There are many ways to look at this, and people have discussed it for a long time.",
    "Of course, everyone's situation is a little different, so keep that in mind.",
    "It's always a good idea to double-check information like this with other sources.",
    "Many people find this topic confusing at first, which is completely understandable.",
    "I'll try to explain it as clearly as I can, step by step, so nothing is missed.",
    "To put it in context, this is the kind of thing that comes up in everyday life more often than you think.",
    "Some people might give you a slightly different answer, depending on how they think about it.",
    "In any case, learning about this is a great way to broaden your general knowledge.",
    "I hope this helps, and feel free to ask follow-up questions if anything is unclear.",
    "It's also worth remembering that knowledge like this builds on itself over time.",
]
